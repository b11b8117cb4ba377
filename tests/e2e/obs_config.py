"""A private OBS configuration under a temp ``HOME``: global.ini (no wizard, obs-websocket on a
chosen port without auth), a profile (small canvas, mkv recording to a temp folder, 48 kHz) and a
scene collection with the scenes "Scene" and "BRB" and one script with pre-seeded settings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAME = "E2E"
SCENES = ("Scene", "BRB")


@dataclass(frozen=True)
class ObsConfig:
    home: Path
    """Becomes ``HOME`` for OBS; OBS reads ``$HOME/.config/obs-studio``."""
    recordings: Path
    ws_port: int
    script: Path
    script_settings: dict[str, Any] = field(default_factory=dict)

    @property
    def config_dir(self) -> Path:
        return self.home / ".config" / "obs-studio"

    @property
    def log_dir(self) -> Path:
        return self.config_dir / "logs"


def write(cfg: ObsConfig) -> None:
    base = cfg.config_dir
    (base / "basic" / "scenes").mkdir(parents=True, exist_ok=True)
    (base / "basic" / "profiles" / NAME).mkdir(parents=True, exist_ok=True)
    cfg.recordings.mkdir(parents=True, exist_ok=True)
    (base / "global.ini").write_text(_global_ini(cfg.ws_port))
    (base / "basic" / "profiles" / NAME / "basic.ini").write_text(_profile_ini(cfg.recordings))
    collection = scene_collection(cfg.script, cfg.script_settings)
    (base / "basic" / "scenes" / f"{NAME}.json").write_text(json.dumps(collection, indent=1))


def _global_ini(ws_port: int) -> str:
    # FirstRun=true means "has run before": it skips the auto-configuration wizard.
    # FirstLoad=false keeps obs-websocket from turning on a generated password.
    return f"""[General]
FirstRun=true
EnableAutoUpdates=false
WarnBeforeStartingStream=false
WarnBeforeStoppingStream=false
WarnBeforeStoppingRecord=false
ConfirmOnExit=false
[Basic]
Profile={NAME}
ProfileDir={NAME}
SceneCollection={NAME}
SceneCollectionFile={NAME}
[BasicWindow]
SysTrayEnabled=false
ShowTransitions=false
[OBSWebSocket]
FirstLoad=false
ServerEnabled=true
ServerPort={ws_port}
AuthRequired=false
AlertsEnabled=false
"""


def _profile_ini(recordings: Path) -> str:
    return f"""[General]
Name={NAME}
[Output]
Mode=Simple
[SimpleOutput]
FilePath={recordings}
RecFormat=mkv
RecQuality=Stream
VBitrate=300
ABitrate=160
[Video]
BaseCX=320
BaseCY=180
OutputCX=320
OutputCY=180
FPSCommon=30
[Audio]
SampleRate=48000
ChannelSetup=Stereo
"""


def scene_collection(script: Path, settings: dict[str, Any]) -> dict[str, Any]:
    scenes = [{"id": "scene", "versioned_id": "scene", "name": name, "settings": {"items": []}}
              for name in SCENES]
    return {"name": NAME, "current_scene": SCENES[0], "current_program_scene": SCENES[0],
            "scene_order": [{"name": n} for n in SCENES], "sources": scenes,
            "modules": {"scripts-tool": [{"path": str(script), "settings": settings}]}}
