//! berth's archives as another tool reads them: skopeo (Debian's) inspects a docker-archive and
//! copies an OCI archive, and reports the digests berth wrote.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use berth_image::archive::{self, ArchiveFormat};
use berth_image::{Digest, ImageStore};
use berth_storage::drivers::vfs::Vfs;
use berth_storage::layer::LayerStore;
use berth_storage::Driver;

const TAG: &str = "fixture/busybox:2layer";
const IMAGE_ID: &str = "sha256:762bfdf310f91da543f06133615ea20fb16e1e122326ca88b6ce7f32d97fd4cb";
const DIFF_IDS: [&str; 2] = [
    "sha256:d1dca514726ed3a3b40b715c3c290d2a8725b20cc7f2694c8d03ff88d257c481",
    "sha256:97ccc69c603fe76207b33f1bbd88e5d25009e600f2931cf4ea62dc799d2437ac",
];

struct Setup {
    dir: tempfile::TempDir,
    store: ImageStore,
    skopeo: PathBuf,
}

/// A store holding the docker fixture, and skopeo with a policy of its own (never /etc's).
fn setup() -> Setup {
    berth_testutil::require_root();
    let skopeo = berth_testutil::require_tool("skopeo", "skopeo");
    let dir = tempfile::Builder::new()
        .prefix("berth-interop-")
        .tempdir()
        .unwrap();
    let driver: Arc<dyn Driver> = Arc::new(Vfs::new(&dir.path().join("storage/vfs")).unwrap());
    let layers = Arc::new(LayerStore::open(&dir.path().join("layers"), driver).unwrap());
    let store = ImageStore::open(&dir.path().join("root"), layers).unwrap();
    let fixture = std::fs::read("/work/shared/fixtures/docker-save-2layer.tar").unwrap();
    archive::load(&store, &fixture[..]).unwrap();
    std::fs::write(
        dir.path().join("policy.json"),
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    Setup { dir, store, skopeo }
}

impl Setup {
    fn save(&self, format: ArchiveFormat, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        let file = std::fs::File::create(&path).unwrap();
        archive::save(
            &self.store,
            &[TAG.to_string()],
            format,
            std::io::BufWriter::new(file),
        )
        .unwrap();
        path
    }

    fn skopeo(&self, args: &[&str]) -> Vec<u8> {
        let tmp = self.dir.path().join("skopeo-tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let out = Command::new(&self.skopeo)
            .arg("--policy")
            .arg(self.dir.path().join("policy.json"))
            .args(args)
            .env("TMPDIR", &tmp)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

fn arg(p: &Path, prefix: &str) -> String {
    format!("{prefix}:{}", p.display())
}

#[test]
fn skopeo_inspects_a_docker_archive_berth_wrote() {
    let s = setup();
    let file = s.save(ArchiveFormat::Docker, "image.tar");
    let inspect = json(&s.skopeo(&["inspect", &arg(&file, "docker-archive")]));
    assert_eq!(inspect["Layers"], serde_json::json!(DIFF_IDS), "{inspect}");
    assert_eq!(inspect["Env"][1], "FIXTURE=yes", "{inspect}");
    let raw = json(&s.skopeo(&["inspect", "--raw", &arg(&file, "docker-archive")]));
    assert_eq!(raw["config"]["digest"], IMAGE_ID, "{raw}");
    let layers: Vec<&str> = raw["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(layers, DIFF_IDS);
    let config = s.skopeo(&[
        "inspect",
        "--config",
        "--raw",
        &arg(&file, "docker-archive"),
    ]);
    assert_eq!(
        Digest::of(&config).as_str(),
        IMAGE_ID,
        "skopeo reads the config bytes berth stored"
    );
}

#[test]
fn skopeo_copies_an_oci_archive_berth_wrote() {
    let s = setup();
    let file = s.save(ArchiveFormat::Oci, "image-oci.tar");
    let dest = s.dir.path().join("copied");
    s.skopeo(&["copy", &arg(&file, "oci-archive"), &arg(&dest, "dir")]);
    let manifest = std::fs::read(dest.join("manifest.json")).unwrap();
    let m = json(&manifest);
    assert_eq!(m["config"]["digest"], IMAGE_ID, "{m}");
    let layers: Vec<&str> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(layers, DIFF_IDS);
    // The manifest skopeo copied is the one berth wrote: its digest is in berth's index.json.
    let mut index = None;
    let mut a = tar::Archive::new(std::fs::File::open(&file).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap() == Path::new("index.json") {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            index = Some(json(&v));
        }
    }
    let index = index.expect("index.json in berth's archive");
    assert_eq!(
        index["manifests"][0]["digest"],
        Digest::of(&manifest).as_str(),
        "{index}"
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "2layer"
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        "docker.io/fixture/busybox:2layer"
    );
    let config = std::fs::read(dest.join(&IMAGE_ID[7..])).unwrap();
    assert_eq!(Digest::of(&config).as_str(), IMAGE_ID);
}
