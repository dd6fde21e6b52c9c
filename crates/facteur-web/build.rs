// The pages and assets are embedded at compile time (rust-embed's `debug-embed`, in every
// profile): a file added, changed or removed under `templates/` or `assets/` rebuilds this crate.
fn main() {
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=assets");
}
