//! A loaded image runs: Docker's own `docker save` fixture is loaded, a container's layers are
//! made on it, and its CMD runs on the mounted rootfs through berth's runtime, printing what
//! `docker run fixture/busybox:2layer` prints.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

use berth_image::{archive, ImageStore};
use berth_runtime::builtin::Builtin;
use berth_runtime::{CreateOptions, OciRuntime};
use berth_storage::layer::LayerStore;
use berth_storage::Driver;

#[test]
fn the_docker_fixture_loads_and_runs() {
    berth_testutil::require_root();
    let dir = tempfile::Builder::new()
        .prefix("berth-runs-")
        .tempdir()
        .unwrap();
    let driver: Arc<dyn Driver> =
        berth_storage::select::open(Some("overlay"), &dir.path().join("storage")).unwrap();
    let layers = Arc::new(LayerStore::open(&dir.path().join("layers"), driver.clone()).unwrap());
    let store = ImageStore::open(dir.path(), layers.clone()).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/docker-save-2layer.tar");
    archive::load(&store, std::fs::File::open(&fixture).unwrap()).unwrap();
    let id = store.resolve("fixture/busybox:2layer").unwrap();
    let image = store.get(&id).unwrap();
    let cmd = image.config.config.clone().unwrap().cmd.unwrap();
    assert_eq!(cmd, ["cat", "/opt/fixture/message"]);

    let container = berth_testutil::unique_name("runs");
    layers
        .create_container(&container, image.top_layer.as_ref(), |_| Ok(()))
        .unwrap();
    struct Cleanup<'a>(&'a LayerStore, &'a str, Arc<dyn Driver>);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = self.0.unmount_container(self.1);
            let _ = self.0.remove_container(self.1);
            let _ = self.2.cleanup();
        }
    }
    let rootfs = layers.mount_container(&container).unwrap();
    let _cleanup = Cleanup(&layers, &container, driver);

    // An OCI bundle whose root is the mounted container rootfs.
    let bundle = tempfile::Builder::new()
        .prefix("berth-runs-bundle-")
        .tempdir()
        .unwrap();
    let mut spec = oci_spec::runtime::Spec::default();
    let mut process = spec.process().clone().unwrap();
    process.set_args(Some(cmd));
    process.set_terminal(Some(false));
    spec.set_process(Some(process));
    let mut root = spec.root().clone().unwrap();
    root.set_path(rootfs.clone());
    spec.set_root(Some(root));
    std::fs::write(
        bundle.path().join("config.json"),
        serde_json::to_vec(&spec).unwrap(),
    )
    .unwrap();

    let state = tempfile::Builder::new()
        .prefix("berth-runs-state-")
        .tempdir()
        .unwrap();
    let rt = Builtin::new(state.path());
    let (mut out_r, out_w) = std::io::pipe().unwrap();
    let opts = CreateOptions {
        stdout: Some(OwnedFd::from(out_w)),
        ..Default::default()
    };
    let pid = rt.create(&container, bundle.path(), opts).unwrap();
    rt.start(&container).unwrap();
    let mut status = 0;
    // SAFETY: the init is our own child (the builtin runtime cloned it from this process).
    unsafe { libc::waitpid(pid, &mut status, 0) };
    rt.delete(&container, true).unwrap();
    let mut output = String::new();
    out_r.read_to_string(&mut output).unwrap();
    assert_eq!(output.trim(), "loaded from a docker archive");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "status {status:#x}"
    );
}
