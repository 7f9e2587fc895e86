"""Samples mode: the real Close bodies in ../shared/close_samples served as
they are (read at run time; never copied into this repo: licences)."""

import json
import os
from pathlib import Path

# folder name (or prefix ending in "_") -> store kind
FOLDERS = {
    "lead": "lead",
    "contact": "contact",
    "opportunity": "opportunity",
    "activity_": "activity",
    "task_": "task",
    "user": "user",
    "custom_field_lead": "custom_field_lead",
    "custom_field_contact": "custom_field_contact",
    "custom_field_opportunity": "custom_field_opportunity",
    "custom_field_activity": "custom_field_activity",
    "event": "event",
    "lead_status": "lead_status",
    "opportunity_status": "opportunity_status",
    "pipeline": "pipeline",
}
KINDS = sorted(set(FOLDERS.values()))


def samples_dir() -> Path:
    """$CLOSE_SAMPLES_DIR, else <repo>/../shared/close_samples."""
    env = os.environ.get("CLOSE_SAMPLES_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "close_samples"


def kind_of(folder: str) -> str | None:
    for name, kind in FOLDERS.items():
        if folder == name or (name.endswith("_") and folder.startswith(name)):
            return kind
    return None


def load() -> tuple[dict[str, list[dict]], dict[str, dict[str, str]], dict | None]:
    """(records by kind, raw text by kind and id, the /me/ body or None)."""
    root = samples_dir()
    if not root.is_dir():
        raise FileNotFoundError(f"no samples folder at {root} (set CLOSE_SAMPLES_DIR)")
    data: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    texts: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        kind = kind_of(folder.name)
        if kind is None:
            continue
        for path in sorted(folder.glob("*.json")):
            text = path.read_text(encoding="utf-8").strip()
            record = json.loads(text)
            rid = record.get("id") or f"{kind}_{folder.name}_{path.stem}"
            record.setdefault("id", rid)
            if rid in texts[kind]:
                continue
            data[kind].append(record)
            texts[kind][rid] = text
    return data, texts, _me(root)


def _me(root: Path) -> dict | None:
    path = root / "user_me" / "hull_1.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
