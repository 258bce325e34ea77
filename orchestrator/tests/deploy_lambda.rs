//! deploy/lambda/: the SAM template, its build script, the client's IAM policy and the README's
//! commands agree with each other and with the worker-lambda crate. Checked offline: nothing
//! here reaches AWS (the function itself runs under `cargo lambda watch` in backend_lambda.rs).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde_yaml_ng::Value;

/// The artefact `cargo lambda build --output-format zip` makes for the binary flick-worker.
const ZIP: &str = "target/lambda/flick-worker/bootstrap.zip";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn template() -> Value {
    serde_yaml_ng::from_str(&read("deploy/lambda/template.yaml")).unwrap()
}

/// A CloudFormation short-form function (`!Sub`, `!Ref`, `!GetAtt`): its name and argument.
fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => Some((
            tagged.tag.to_string().trim_start_matches('!').to_owned(),
            &tagged.value,
        )),
        _ => None,
    }
}

/// The text of a `!Sub` with no variable map.
fn sub(value: &Value) -> &str {
    match intrinsic(value) {
        Some((name, Value::String(text))) if name == "Sub" => text,
        _ => panic!("not a !Sub of a string: {value:?}"),
    }
}

/// The resources of `kind`, by logical id.
fn resources<'t>(template: &'t Value, kind: &str) -> Vec<(&'t str, &'t Value)> {
    template["Resources"]
        .as_mapping()
        .expect("the template has Resources")
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
        .map(|(id, resource)| (id.as_str().unwrap(), resource))
        .collect()
}

/// The only resource of `kind`.
fn resource<'t>(template: &'t Value, kind: &str) -> (&'t str, &'t Value) {
    let found = resources(template, kind);
    assert_eq!(found.len(), 1, "one {kind} in the template");
    found[0]
}

fn function(template: &Value) -> &Value {
    &resource(template, "AWS::Serverless::Function").1["Properties"]
}

/// `a/b/../c` as `a/c`, without touching the file system (the zip may not be built yet).
fn normalise(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => assert!(normal.pop(), "{} leaves its root", path.display()),
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

/// An IAM statement's `Action`, one string or a list of them.
fn yaml_actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(action) => vec![action.clone()],
        Value::Sequence(actions) => actions
            .iter()
            .map(|action| action.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("Action is neither a string nor a list: {other:?}"),
    }
}

fn json_actions(statement: &serde_json::Value) -> Vec<String> {
    match &statement["Action"] {
        serde_json::Value::String(action) => vec![action.clone()],
        serde_json::Value::Array(actions) => actions
            .iter()
            .map(|action| action.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("Action is neither a string nor a list: {other:?}"),
    }
}

/// Every `--task-timeout N` in the README's "Deploy to AWS" section (the option named in
/// prose, with no number after it, is not one).
fn readme_task_timeouts() -> Vec<u64> {
    let readme = read("README.md");
    let start = readme
        .find("\n## Deploy to AWS\n")
        .expect("README.md has a section Deploy to AWS");
    let section = &readme[start + 1..];
    let section = &section[..section[1..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 1)];
    section
        .split("--task-timeout")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest
                .strip_prefix([' ', '='])?
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

#[test]
fn the_template_is_a_sam_template_with_one_function() {
    let template = template();
    assert_eq!(
        template["Transform"].as_str(),
        Some("AWS::Serverless-2016-10-31")
    );
    resource(&template, "AWS::Serverless::Function");
    resource(&template, "AWS::S3::Bucket");
}

/// The function's code is the zip build.sh builds: CodeUri, relative to the template, is the
/// path cargo lambda gives the crate's binary, and build.sh builds that crate into that zip.
#[test]
fn the_function_runs_the_zip_build_sh_builds() {
    let template = template();
    let code_uri = &function(&template)["CodeUri"];
    assert!(intrinsic(code_uri).is_none(), "CodeUri is a plain path");
    let code_uri = code_uri.as_str().expect("CodeUri is a path");
    assert_eq!(
        normalise(&Path::new("deploy/lambda").join(code_uri)),
        Path::new(ZIP)
    );

    let manifest: toml::Table = read("worker-lambda/Cargo.toml").parse().unwrap();
    let bins = manifest["bin"]
        .as_array()
        .expect("worker-lambda names its binary");
    assert_eq!(bins.len(), 1);
    assert_eq!(
        Path::new(ZIP).parent().unwrap().file_name().unwrap(),
        bins[0]["name"].as_str().unwrap(),
        "cargo lambda puts the zip in a folder named after the binary"
    );

    let build = read("deploy/lambda/build.sh");
    assert!(
        build.starts_with("#!/usr/bin/env bash\n"),
        "build.sh is bash"
    );
    assert!(build.contains("\nset -euo pipefail\n"));
    let command = build
        .lines()
        .position(|line| line.starts_with("cargo lambda build "))
        .map(|at| build.lines().skip(at).take(2).collect::<Vec<_>>().join(" "))
        .expect("build.sh runs cargo lambda build");
    for flag in [
        "--release",
        "--arm64",
        "-p worker-lambda",
        "--output-format zip",
        "--lambda-dir target/lambda",
    ] {
        assert!(command.contains(flag), "{flag} in {command}");
    }
    assert!(
        build.contains(&format!("zip={ZIP}\n")),
        "build.sh prints the path of {ZIP}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(root().join("deploy/lambda/build.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_ne!(mode & 0o111, 0, "build.sh is executable");
    }
}

/// The runtime and size the zip is built for: a bootstrap for arm64, one full vCPU, and a
/// timeout below the --task-timeout the README gives flick (and flick's default, 900 s).
#[test]
fn the_function_is_an_arm64_bootstrap_sized_for_one_task() {
    let template = template();
    let function = function(&template);
    assert_eq!(function["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(function["Handler"].as_str(), Some("bootstrap"));
    let architectures: Vec<_> = function["Architectures"]
        .as_sequence()
        .expect("Architectures is a list")
        .iter()
        .map(Value::as_str)
        .collect();
    assert_eq!(architectures, [Some("arm64")]);

    let memory = function["MemorySize"]
        .as_u64()
        .expect("MemorySize is a number");
    assert!(
        (1769..=10240).contains(&memory),
        "{memory} MB: at least one full vCPU (1769 MB), at most Lambda's 10240"
    );
    let timeout = function["Timeout"].as_u64().expect("Timeout is a number");
    assert!(timeout > 0 && timeout < 900, "Timeout {timeout}");
    let task_timeouts = readme_task_timeouts();
    assert!(
        !task_timeouts.is_empty(),
        "the README gives flick a --task-timeout"
    );
    for task_timeout in task_timeouts {
        assert!(
            timeout < task_timeout,
            "Timeout {timeout} is not below the README's --task-timeout {task_timeout}"
        );
    }
}

/// FLICK_STORE names the template's bucket, under the prefix whose blobs/ the role may read
/// and write, and the stack's Store output is that same URL.
#[test]
fn the_function_store_is_the_template_bucket() {
    let template = template();
    let (bucket, _) = resource(&template, "AWS::S3::Bucket");
    let store = sub(&function(&template)["Environment"]["Variables"]["FLICK_STORE"]);
    let prefix = store
        .strip_prefix(&format!("s3://${{{bucket}}}/"))
        .unwrap_or_else(|| panic!("FLICK_STORE {store} is not in the bucket {bucket}"));
    assert!(!prefix.is_empty() && !prefix.ends_with('/'), "{store}");
    assert_eq!(sub(&template["Outputs"]["Store"]["Value"]), store);

    let (_, role) = resource(&template, "AWS::IAM::Role");
    let s3_resources: Vec<_> = role["Properties"]["Policies"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|policy| policy["PolicyDocument"]["Statement"].as_sequence().unwrap())
        .filter(|statement| yaml_actions(statement).iter().any(|a| a.starts_with("s3:")))
        .map(|statement| sub(&statement["Resource"]))
        .collect();
    assert_eq!(
        s3_resources,
        [format!("${{{bucket}.Arn}}/{prefix}/blobs/*")]
    );
}

/// The function's role, and only it, grants the worker blob reads and writes and its own
/// logs: no other action, no wildcard, no managed policy.
#[test]
fn the_function_role_grants_only_blobs_and_logs() {
    let template = template();
    let function = function(&template);
    let (role_id, role) = resource(&template, "AWS::IAM::Role");
    let (name, argument) = intrinsic(&function["Role"]).expect("Role is !GetAtt");
    assert_eq!(name, "GetAtt");
    let argument = match argument {
        Value::String(text) => text.clone(),
        Value::Sequence(parts) => parts
            .iter()
            .map(|part| part.as_str().unwrap())
            .collect::<Vec<_>>()
            .join("."),
        other => panic!("!GetAtt of {other:?}"),
    };
    assert_eq!(argument, format!("{role_id}.Arn"));
    assert!(
        function.get("Policies").is_none(),
        "no SAM policies besides the role"
    );

    let role = &role["Properties"];
    assert!(role.get("ManagedPolicyArns").is_none(), "no managed policy");
    assert!(
        role["AssumeRolePolicyDocument"]["Statement"]
            .as_sequence()
            .unwrap()
            .iter()
            .all(|statement| statement["Principal"]["Service"].as_str()
                == Some("lambda.amazonaws.com")),
        "only Lambda assumes the role"
    );
    let statements: Vec<&Value> = role["Policies"]
        .as_sequence()
        .expect("the role has inline policies")
        .iter()
        .flat_map(|policy| policy["PolicyDocument"]["Statement"].as_sequence().unwrap())
        .collect();
    let mut actions = BTreeSet::new();
    for statement in &statements {
        assert_eq!(statement["Effect"].as_str(), Some("Allow"));
        assert!(statement.get("NotAction").is_none());
        assert!(statement.get("NotResource").is_none());
        for action in yaml_actions(statement) {
            assert!(!action.contains('*'), "a wildcard action: {action}");
            actions.insert(action);
        }
    }
    assert_eq!(
        actions,
        BTreeSet::from(
            [
                "s3:GetObject",
                "s3:PutObject",
                "logs:CreateLogStream",
                "logs:PutLogEvents"
            ]
            .map(String::from)
        )
    );

    // The logs it may write are its own log group's, named from the FunctionName parameter,
    // as the function is, so that neither refers to the other.
    assert_eq!(
        intrinsic(&function["FunctionName"]).map(|(name, value)| (name, value.as_str())),
        Some(("Ref".to_owned(), Some("FunctionName")))
    );
    assert_eq!(
        template["Parameters"]["FunctionName"]["Default"].as_str(),
        Some("flick-worker")
    );
    let (_, log_group) = resource(&template, "AWS::Logs::LogGroup");
    let log_group = &log_group["Properties"];
    assert_eq!(
        sub(&log_group["LogGroupName"]),
        "/aws/lambda/${FunctionName}"
    );
    assert!(log_group["RetentionInDays"].as_u64().is_some());
    for statement in statements {
        if yaml_actions(statement)
            .iter()
            .any(|a| a.starts_with("logs:"))
        {
            let resource = sub(&statement["Resource"]);
            assert!(
                resource.ends_with(":log-group:/aws/lambda/${FunctionName}:*"),
                "{resource}"
            );
        }
    }
}

/// The bucket is private and cleans up after runs that did not: objects under the store's
/// prefix expire, and incomplete multipart uploads are aborted.
#[test]
fn the_bucket_is_private_and_expires_leftovers() {
    let template = template();
    let (_, bucket) = resource(&template, "AWS::S3::Bucket");
    let bucket = &bucket["Properties"];
    let block = &bucket["PublicAccessBlockConfiguration"];
    for setting in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[setting].as_bool(), Some(true), "{setting}");
    }
    let rules = bucket["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .expect("the bucket has lifecycle rules");
    let enabled = |rule: &&Value| rule["Status"].as_str() == Some("Enabled");
    assert!(
        rules
            .iter()
            .filter(enabled)
            .any(|rule| rule["Prefix"].as_str() == Some("flick/")
                && !rule["ExpirationInDays"].is_null()),
        "objects under flick/ expire"
    );
    assert!(
        rules.iter().filter(enabled).any(|rule| {
            rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
                .as_u64()
                .is_some()
        }),
        "incomplete multipart uploads are aborted"
    );
}

/// The policy for whoever runs flick: exactly the S3 and Lambda calls flick makes, on the
/// store's prefix and the function the template names by default.
#[test]
fn the_client_policy_allows_what_flick_does() {
    let policy: serde_json::Value =
        serde_json::from_str(&read("deploy/lambda/client-policy.json")).unwrap();
    assert_eq!(policy["Version"].as_str(), Some("2012-10-17"));
    let statements = policy["Statement"]
        .as_array()
        .expect("a list of statements");
    let mut actions = BTreeSet::new();
    for statement in statements {
        assert_eq!(statement["Effect"].as_str(), Some("Allow"));
        assert!(statement.get("NotAction").is_none());
        let resource = statement["Resource"].as_str().expect("one resource");
        assert_ne!(resource, "*");
        for action in json_actions(statement) {
            assert!(!action.contains('*'), "a wildcard action: {action}");
            if action == "lambda:InvokeFunction" {
                assert!(resource.ends_with(":function:flick-worker"), "{resource}");
            } else if action == "s3:ListBucket" {
                assert_eq!(
                    statement["Condition"]["StringLike"]["s3:prefix"],
                    serde_json::json!(["flick/*"])
                );
            } else {
                assert!(resource.ends_with(":::BUCKET/flick/*"), "{resource}");
            }
            actions.insert(action);
        }
    }
    assert_eq!(
        actions,
        BTreeSet::from(
            [
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:ListBucket",
                "lambda:InvokeFunction"
            ]
            .map(String::from)
        )
    );
}
