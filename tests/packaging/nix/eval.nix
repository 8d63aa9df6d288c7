# Evaluates nix/hm-module.nix with the options in `cfg` and prints the
# resolved systemd units and config file as JSON:
#   nix-instantiate --eval --strict --json eval.nix --arg cfg '{ enable = true; }'
# Unknown options and values of the wrong type are errors, as in Home Manager.
{ cfg }:
let
  lib = import ./stub-nixpkgs/lib.nix;
  pkgs = {
    stdenv.hostPlatform.system = "x86_64-linux";
    coreutils = "/nix/store/stub-coreutils";
    formats.toml = _: {
      type = lib.types.attrs;
      generate = name: value: "/nix/store/stub-${name}:" + builtins.toJSON value;
    };
  };
  self.packages.x86_64-linux.default = "/nix/store/stub-llm-bridge";
  module = import ../../../nix/hm-module.nix self;
  declared = (module { config = { }; inherit lib pkgs; }).options.services.llm-bridge;
  unknown = builtins.filter (n: !(declared ? ${n})) (builtins.attrNames cfg);
  resolved = builtins.mapAttrs
    (name: opt:
      if cfg ? ${name} then
        (if opt.type.check cfg.${name} then cfg.${name}
         else throw "services.llm-bridge.${name}: not a ${opt.type.name}")
      else opt.default)
    declared;
  # Resolves every mkIf, dropping the parts whose condition is false.
  libFilter = attrs: builtins.removeAttrs attrs (builtins.filter (n: attrs.${n} == null) (builtins.attrNames attrs));
  resolveAll = v:
    if builtins.isAttrs v && (v._type or null) == "if" then (if v.cond then resolveAll v.content else null)
    else if builtins.isAttrs v then libFilter (builtins.mapAttrs (_: resolveAll) v)
    else v;
  evaluated = resolveAll (module { config.services.llm-bridge = resolved; inherit lib pkgs; }).config;
in
if unknown != [ ] then throw "unknown option(s): services.llm-bridge.${builtins.concatStringsSep ", " unknown}"
else if evaluated == null then { enabled = false; }
else { enabled = true; } // evaluated
