//! moto's server on 127.0.0.1 and the AWS SDK pointed at it: one copy for
//! the integration tests (`tests/it`) and the AWS benchmark
//! (`benches/aws.rs`, which includes this file by path).

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};

/// The repository root.
pub fn root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python that has moto and boto3 (installed by scripts/aws/install).
// Test set-up reads where ./scripts/test installed moto.
#[allow(clippy::disallowed_methods)]
pub fn python() -> PathBuf {
    std::env::var("HITL_AWS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".deps/aws-venv/bin/python"))
}

/// A moto server of its own, stopped when dropped.
pub struct Moto {
    child: std::process::Child,
    pub url: String,
}

impl Moto {
    /// Starts moto where ./scripts/test installed it (or HITL_AWS_PYTHON)
    /// and waits until it answers.
    pub async fn start() -> Self {
        let python = python();
        assert!(
            python.exists(),
            "moto is not installed at {}: run scripts/aws/install (or set HITL_AWS_PYTHON)",
            python.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port on 127.0.0.1")
            .port();
        let child = std::process::Command::new(&python)
            .arg(root().join("scripts/aws/moto_server.py"))
            .arg(port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto's server");
        let url = format!("http://127.0.0.1:{port}");
        hitl_bot::install_tls_provider();
        let http = reqwest::Client::new();
        for _ in 0..150 {
            if http
                .get(format!("{url}/moto-api/config"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, url }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SDK settings for moto: its URL, a fixed region and static test keys,
/// rustls with ring (the build's only TLS provider).
pub async fn sdk_config(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .load()
        .await
}

/// Reads every record of `table`'s stream with boto3 (an implementation
/// independent of ours) and shapes them as the Lambda event a DynamoDB
/// event source mapping delivers: `{"Records": [...]}` with
/// `eventSourceARN` and the creation time in epoch seconds.
#[allow(dead_code)] // the tests use it; the benchmark that includes this file does not
pub fn stream_event(url: &str, table: &str) -> serde_json::Value {
    const READ: &str = r#"
import json, sys, boto3
url, table = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
arn = boto3.client("dynamodb", **kw).describe_table(TableName=table)["Table"]["LatestStreamArn"]
streams = boto3.client("dynamodbstreams", **kw)
records = []
for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    while it:
        page = streams.get_records(ShardIterator=it)
        for r in page["Records"]:
            r["eventSourceARN"] = arn
            r["dynamodb"]["ApproximateCreationDateTime"] = r["dynamodb"]["ApproximateCreationDateTime"].timestamp()
            records.append(r)
        it = page.get("NextShardIterator") if page["Records"] else None
print(json.dumps({"Records": records}))
"#;
    let out = std::process::Command::new(python())
        .args(["-c", READ, url, table])
        .output()
        .expect("run boto3");
    assert!(
        out.status.success(),
        "reading the stream failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the stream event is JSON")
}

/// Creates a table named `name` with the layout of terraform/dynamodb.tf
/// (its stream included, as the outbox router reads it).
pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str) {
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    ddb.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .attribute_definitions(attr("gsi1pk"))
        .attribute_definitions(attr("gsi1sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("pending")
                .key_schema(key("gsi1pk", KeyType::Hash))
                .key_schema(key("gsi1sk", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewImage)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create table {name}: {e:?}"));
}
