# Home Manager module: services.llm-bridge.{enable, package, settings}.
# It installs the package, renders settings to config.toml, and runs the
# daemon as a systemd user service started by its socket (socket activation),
# tied to the graphical session.
self:
{ config, lib, pkgs, ... }:

let
  cfg = config.services.llm-bridge;
  tomlFormat = pkgs.formats.toml { };
  configFile = tomlFormat.generate "llm-bridge-config.toml" cfg.settings;
in
{
  options.services.llm-bridge = {
    enable = lib.mkEnableOption "llm-bridge, Claude Code sessions in Waybar";

    package = lib.mkOption {
      type = lib.types.package;
      default = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      defaultText = lib.literalExpression "llm-bridge.packages.\${system}.default";
      description = "The llm-bridge package.";
    };

    settings = lib.mkOption {
      type = tomlFormat.type;
      default = { };
      example = lib.literalExpression ''
        {
          signal = 8;
          debounce.mode = "leading";
          module.waiting = "⏳";
          statusline.format = "{model} {project} {context} {cost}";
          # Speech: the voice is loaded when the daemon starts.
          speech = {
            enabled = true;
            voice = "''${config.xdg.dataHome}/llm-bridge/voice.onnx";
            volume = 0.8;
          };
        }
      '';
      description = ''
        Written to $XDG_CONFIG_HOME/llm-bridge/config.toml; see
        `llm-bridge config --default` for every key.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    home.packages = [ cfg.package ];

    xdg.configFile."llm-bridge/config.toml" = lib.mkIf (cfg.settings != { }) {
      source = configFile;
    };

    # The voices directory, private: `llm-bridge voice install` puts voices
    # there and the daemon watches it for one that appears, but under its
    # sandbox (ProtectHome=read-only) the daemon cannot create it itself.
    systemd.user.tmpfiles.rules = [
      "d ${config.xdg.dataHome or "%h/.local/share"}/llm-bridge/voices 0700 - - -"
    ];

    systemd.user.sockets.llm-bridge = {
      Unit = {
        Description = "llm-bridge socket (Claude Code hooks to Waybar)";
        PartOf = [ "graphical-session.target" ];
      };
      Socket = {
        ListenDatagram = "%t/llm-bridge.sock";
        SocketMode = "0600";
        PassCredentials = true;
        RemoveOnStop = true;
      };
      Install.WantedBy = [ "sockets.target" ];
    };

    systemd.user.services.llm-bridge = {
      Unit = {
        Description = "llm-bridge: Claude Code sessions in Waybar";
        Requires = [ "llm-bridge.socket" ];
        After = [ "llm-bridge.socket" "graphical-session.target" ];
        PartOf = [ "graphical-session.target" ];
        X-Restart-Triggers = lib.optional (cfg.settings != { }) "${configFile}";
      };
      Service = {
        # READY=1 once the socket serves and, with [speech] enabled, the
        # voice is loaded; no WatchdogSec (it would wake an idle daemon).
        Type = "notify";
        NotifyAccess = "main";
        ExecStart = "${cfg.package}/bin/llm-bridge daemon";
        ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
        Restart = "on-failure";
        RestartSec = 1;
        # Rendered phrases of spoken notifications ($CACHE_DIRECTORY).
        CacheDirectory = "llm-bridge";
        CacheDirectoryMode = "0700";
        # The history and the log ($STATE_DIRECTORY).
        StateDirectory = "llm-bridge";
        StateDirectoryMode = "0700";
        # The sandbox: the same lines as contrib/systemd/llm-bridge.service
        # (tests/packaging/nix.sh compares them), where they are explained.
        ProtectSystem = "strict";
        ProtectHome = "read-only";
        ReadWritePaths = [ "%t" ];
        PrivateTmp = true;
        NoNewPrivileges = true;
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        RestrictAddressFamilies = [ "AF_UNIX" ];
        IPAddressDeny = "any";
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        KeyringMode = "private";
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" "~@privileged" ];
        SystemCallErrorNumber = "EPERM";
        UMask = "0077";
      };
      Install.WantedBy = [ "graphical-session.target" ];
    };
  };
}
