# The llm-bridge package: the daemon and CLI (llm-bridge) and the hot-path
# binaries (llm-bridge-hook, llm-bridge-statusline). The hot-path binaries
# are linked statically, as scripts/build-release does, so a hook starts as
# fast as /bin/true.
{ lib, rustPlatform, glibc }:

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

  # The static hooks, built on their own: +crt-static cannot reach the
  # proc-macro crates of the main package.
  buildInputs = [ glibc.static ];
  postBuild = ''
    RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --offline \
      -p llm-bridge-hooks --bins --target-dir target/static-hooks
  '';
  postInstall = ''
    for bin in llm-bridge-hook llm-bridge-statusline; do
      install -m755 target/static-hooks/release/$bin $out/bin/$bin
    done
  '';

  # The test suite starts daemons and signals processes; CI runs it.
  doCheck = false;

  meta = {
    description = "Shows what every Claude Code session is doing in Waybar";
    homepage = "https://github.com/llm-bridge/llm-bridge";
    license = with lib.licenses; [ mit asl20 ];
    mainProgram = "llm-bridge";
    platforms = lib.platforms.linux;
  };
}
