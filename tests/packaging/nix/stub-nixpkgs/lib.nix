# Just enough of nixpkgs' lib for evaluating nix/hm-module.nix offline:
# options carry a type with a check, mkIf is resolved by eval.nix.
rec {
  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = what: mkOption { type = types.bool; default = false; description = "Whether to enable ${what}."; };
  mkIf = cond: content: { _type = "if"; inherit cond content; };
  optional = cond: x: if cond then [ x ] else [ ];
  literalExpression = text: { _type = "literalExpression"; inherit text; };
  types = {
    bool = { name = "bool"; check = builtins.isBool; };
    package = { name = "package"; check = x: builtins.isString x || (builtins.isAttrs x && x ? outPath); };
    attrs = { name = "attribute set"; check = builtins.isAttrs; };
  };
}
