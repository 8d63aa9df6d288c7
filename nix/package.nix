# The llm-bridge package: the daemon and CLI (llm-bridge) and the hot-path
# binaries (llm-bridge-hook, llm-bridge-statusline, llm-bridge-waybar,
# llm-bridge-apply). The hot-path binaries are linked statically and without
# position independence, as scripts/build-release does, so they start about
# as fast as a static C program.
{ lib, rustPlatform, glibc, pkg-config, alsa-lib }:

rustPlatform.buildRustPackage {
  pname = "llm-bridge";
  version = (builtins.fromTOML (builtins.readFile ../Cargo.toml)).workspace.package.version;

  src = lib.cleanSourceWith {
    src = ../.;
    filter = path: type:
      let base = baseNameOf path;
      in !(lib.hasPrefix "target" base) && base != "result";
  };
  cargoLock.lockFile = ../Cargo.lock;

  # Every feature the workspace has (none are optional today).
  buildFeatures = [ ];

  # The static hot-path binaries, built on their own: the hooks package has
  # no proc-macro crate; the core package (serde's derive) needs an explicit
  # --target for +crt-static to spare its host proc-macros.
  # The daemon's speech engine: ALSA (rodio's output), found with pkg-config;
  # espeak-ng is built from espeak-ng/upstream by its crate's build script.
  # The hot-path binaries link neither (a test checks it).
  nativeBuildInputs = [ pkg-config ];
  buildInputs = [ glibc.static alsa-lib ];
  postBuild = ''
    static="-C target-feature=+crt-static -C relocation-model=static"
    host=$(rustc -vV | sed -n "s/^host: //p")
    RUSTFLAGS="$static" cargo build --release --offline \
      -p llm-bridge-hooks --bins --target-dir target/static-hooks
    RUSTFLAGS="$static" cargo build --release --offline \
      -p llm-bridge-core --bins --target "$host" --target-dir target/static-core
  '';
  postInstall = ''
    for bin in llm-bridge-hook llm-bridge-statusline; do
      install -m755 target/static-hooks/release/$bin $out/bin/$bin
    done
    for bin in llm-bridge-waybar llm-bridge-apply; do
      install -m755 target/static-core/*/release/$bin $out/bin/$bin
    done
  '';

  # The test suite starts daemons and signals processes; CI runs it.
  doCheck = false;

  meta = {
    description = "Shows what every Claude Code session is doing in Waybar";
    homepage = "https://github.com/llm-bridge/llm-bridge";
    # The source is MIT OR Apache-2.0; llm-bridge (with speech) links
    # espeak-ng, GPL-3.0-or-later, so the package as built is GPL-3.0+
    # (README.md, "Licence").
    license = with lib.licenses; [ gpl3Plus ];
    mainProgram = "llm-bridge";
    platforms = lib.platforms.linux;
  };
}
