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

/// A moto server of its own, stopped when dropped.
pub struct Moto {
    child: std::process::Child,
    pub url: String,
}

impl Moto {
    /// Starts moto where ./scripts/test installed it (or HITL_AWS_PYTHON)
    /// and waits until it answers.
    // Test set-up reads where ./scripts/test installed moto.
    #[allow(clippy::disallowed_methods)]
    pub async fn start() -> Self {
        let python = std::env::var("HITL_AWS_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root().join(".deps/aws-venv/bin/python"));
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

/// Creates a table named `name` with the layout of terraform/dynamodb.tf.
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
        .send()
        .await
        .unwrap_or_else(|e| panic!("create table {name}: {e:?}"));
}
