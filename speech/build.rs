//! Links libespeak-ng, found through pkg-config (Debian: `libespeak-ng-dev`).

fn main() {
    if let Err(e) = pkg_config::Config::new()
        .atleast_version("1.49")
        .probe("espeak-ng")
    {
        panic!("libespeak-ng was not found by pkg-config ({e}); install libespeak-ng-dev");
    }
}
