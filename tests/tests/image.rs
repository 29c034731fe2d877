//! `scripts/image/build`: the same binaries give the same image digest, and the image is what
//! the README says: non-root, no shell, cluster-dns as its entrypoint, the name deploy/ uses.
//! Needs the debug binaries (`cargo build -p cluster-dns -p nodelocal`; scripts/test builds
//! them first).

use std::path::Path;
use std::process::Command;

use signpost_tests::{TempDir, workspace_root};

fn build(out: &Path) -> String {
    let status = Command::new(workspace_root().join("scripts/image/build"))
        .arg(out)
        .status()
        .expect("run scripts/image/build");
    assert!(status.success(), "scripts/image/build failed");
    let archive = std::fs::read_dir(out)
        .expect("image output")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "tar"))
        .expect("no archive written");
    std::fs::read_to_string(format!("{}.digest", archive.display()))
        .expect("digest file")
        .trim()
        .to_string()
}

fn tar_list(archive: &Path, member: Option<&str>) -> String {
    let mut cmd = Command::new("tar");
    cmd.arg("-tvf").arg(archive);
    if let Some(m) = member {
        cmd.arg(m);
    }
    let out = cmd.output().expect("tar");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_image_is_reproducible_non_root_and_shell_free() {
    let (a, b) = (TempDir::new("image-a"), TempDir::new("image-b"));
    let first = build(a.path());
    let second = build(b.path());
    assert!(first.starts_with("sha256:"), "digest {first}");
    assert_eq!(first, second, "two builds of the same binaries differ");

    let archive = std::fs::read_dir(a.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "tar"))
        .unwrap();
    let size = std::fs::metadata(&archive).unwrap().len();
    eprintln!(
        "FIGURE image {}: {first}, {:.1} MiB archive",
        archive.display(),
        size as f64 / (1 << 20) as f64
    );

    // Unpack the layout and look inside: config, and the layer's file list.
    let dir = TempDir::new("image-x");
    let ok = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap()
        .success();
    assert!(ok, "unpack the archive");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("index.json")).unwrap())
            .unwrap();
    let entry = &index["manifests"][0];
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"],
        "ghcr.io/signpost-dns/signpost:0.1.0"
    );
    let blob = |digest: &str| {
        dir.path()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(blob(entry["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(config["config"]["Entrypoint"][0], "/cluster-dns");
    let layer = blob(manifest["layers"][0]["digest"].as_str().unwrap());
    let files = tar_list(&layer, None);
    for want in ["cluster-dns", "nodelocal", "usr/sbin/nft"] {
        assert!(
            files
                .lines()
                .any(|l| l.split_whitespace().last() == Some(want)),
            "{want} missing:\n{files}"
        );
    }
    for line in files.lines() {
        let name = line.split_whitespace().last().unwrap_or_default();
        let base = name.rsplit('/').next().unwrap_or_default();
        assert!(
            !["sh", "bash", "dash", "ash", "busybox"].contains(&base),
            "a shell in the image: {line}"
        );
    }
    // Owners are numeric root, mtimes 0: nothing of the build machine leaks in.
    for line in files.lines() {
        assert!(line.contains(" 0/0 "), "owner: {line}");
        assert!(line.contains("1970-01-01"), "mtime: {line}");
    }
}
