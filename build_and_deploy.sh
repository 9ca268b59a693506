#!/usr/bin/env bash
# Builds the hitl-bot image and deploys the AWS stack in terraform/.
#
#   ./build_and_deploy.sh check     tools and AWS credentials present?
#   ./build_and_deploy.sh build     docker build the image
#   ./build_and_deploy.sh init      terraform init
#   ./build_and_deploy.sh plan      terraform plan (the image tag of this commit)
#   ./build_and_deploy.sh apply     terraform apply
#   ./build_and_deploy.sh deploy    all of it: check, build, init, ECR, push, apply
#   ./build_and_deploy.sh test      smoke-test the deployed function URL
#   ./build_and_deploy.sh destroy   terraform destroy
#
# Settings come from terraform/terraform.tfvars (copy terraform.tfvars.example).
# Environment: AWS_REGION (default: aws_region in terraform.tfvars, else
# us-east-1), IMAGE_TAG (default: the commit's short hash; ECR tags are
# immutable, so every deploy of new code needs a new tag).
set -euo pipefail
cd "$(dirname "$0")"

TF_DIR=terraform

die() {
  echo "build_and_deploy.sh: $*" >&2
  exit 1
}

need() { # tool how-to-get-it
  if ! command -v "$1" >/dev/null 2>&1; then
    die "$1 is not installed. $2"
  fi
}

region() {
  if [ -n "${AWS_REGION:-}" ]; then
    echo "$AWS_REGION"
  elif [ -f "$TF_DIR/terraform.tfvars" ] && grep -qE '^aws_region *=' "$TF_DIR/terraform.tfvars"; then
    sed -nE 's/^aws_region *= *"([^"]+)".*/\1/p' "$TF_DIR/terraform.tfvars"
  else
    echo us-east-1
  fi
}

image_tag() {
  if [ -n "${IMAGE_TAG:-}" ]; then
    echo "$IMAGE_TAG"
  else
    git rev-parse --short=12 HEAD 2>/dev/null || die "not a git checkout: set IMAGE_TAG"
  fi
}

tf() {
  terraform -chdir="$TF_DIR" "$@"
}

tf_vars() {
  echo "-var=image_tag=$(image_tag)" "-var=aws_region=$(region)"
}

cmd_check() {
  need terraform "Get terraform >= 1.7 from https://developer.hashicorp.com/terraform/install"
  need aws "Get the AWS CLI v2 from https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
  need docker "Get Docker from https://docs.docker.com/get-docker/ (or another engine with a docker-compatible CLI)"
  need git "Install git from your package manager"
  need curl "Install curl from your package manager"
  docker info >/dev/null 2>&1 || die "docker is installed but its engine is not running: start Docker"
  aws sts get-caller-identity --output text --query Arn >/dev/null 2>&1 ||
    die "the AWS CLI has no working credentials: run 'aws configure' or 'aws sso login', or set AWS_PROFILE"
  [ -f "$TF_DIR/terraform.tfvars" ] ||
    echo "build_and_deploy.sh: no $TF_DIR/terraform.tfvars; copy terraform.tfvars.example and fill it in (using defaults for now)" >&2
  echo "check: tools and credentials OK (region $(region), image tag $(image_tag))"
}

cmd_build() {
  need docker "Get Docker from https://docs.docker.com/get-docker/"
  docker build --platform linux/amd64 -t "hitl-bot:$(image_tag)" .
}

cmd_init() {
  need terraform "Get terraform >= 1.7 from https://developer.hashicorp.com/terraform/install"
  tf init -input=false
}

cmd_plan() {
  # shellcheck disable=SC2046 # tf_vars prints separate words on purpose
  tf plan -input=false $(tf_vars)
}

cmd_apply() {
  # shellcheck disable=SC2046
  tf apply -input=false $(tf_vars)
}

push_image() {
  local repo registry
  repo="$(tf output -raw ecr_repository_url)"
  registry="${repo%%/*}"
  aws ecr get-login-password --region "$(region)" | docker login --username AWS --password-stdin "$registry"
  docker tag "hitl-bot:$(image_tag)" "$repo:$(image_tag)"
  docker push "$repo:$(image_tag)"
}

cmd_deploy() {
  cmd_check
  cmd_build
  cmd_init
  # The functions need the image in ECR first: create the repository (and
  # its key), push, then apply everything.
  # shellcheck disable=SC2046
  tf apply -input=false -auto-approve $(tf_vars) -target=aws_ecr_repository.bot -target=aws_ecr_lifecycle_policy.bot
  push_image
  # shellcheck disable=SC2046
  tf apply -input=false $(tf_vars)
  local url
  url="$(tf output -raw function_url)"
  cat <<DONE

Deployed. Function URL: $url
  Slack: set the app's Interactivity, Slash Commands and Event Subscriptions
         request URLs to ${url}slack/interactions, ${url}slack/commands, ${url}slack/events
  Teams: set the Azure Bot's messaging endpoint to ${url}teams/messages
  Gateways: hitl-mcp generate-config --approval-url $url
  Smoke test: ./build_and_deploy.sh test
DONE
}

cmd_test() {
  need curl "Install curl from your package manager"
  local url token code
  url="$(tf output -raw function_url)"
  code="$(curl -s -o /dev/null -w '%{http_code}' "${url}healthz")"
  [ "$code" = 200 ] || die "GET ${url}healthz answered $code, expected 200 (see the api function's logs)"
  token="$(aws secretsmanager get-secret-value --region "$(region)" --secret-id "$(tf output -raw secret_arn)" \
    --query SecretString --output text | python3 -c 'import json,sys; print(json.load(sys.stdin)["HITL_TOKEN"])')"
  code="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "${url}v1/approvals?status=pending")"
  [ "$code" = 200 ] || die "GET ${url}v1/approvals?status=pending answered $code, expected 200"
  code="$(curl -s -o /dev/null -w '%{http_code}' "${url}v1/approvals?status=pending")"
  [ "$code" = 401 ] || die "an unauthenticated listing answered $code, expected 401"
  echo "test: ${url} is up, authenticates, and lists pending requests"
}

cmd_destroy() {
  # shellcheck disable=SC2046
  tf destroy -input=false $(tf_vars)
}

case "${1:-}" in
  check | build | init | plan | apply | deploy | test | destroy) "cmd_$1" ;;
  *)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    [ -n "${1:-}" ] && die "unknown verb '$1'"
    exit 2
    ;;
esac
