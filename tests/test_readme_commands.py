"""Every single-run ``nst-sweep`` command in the README composes and validates as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from nst_sweep.settings import RunSettings

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = str(REPO / "conf")


def readme_commands() -> list[list[str]]:
    """The overrides of each README line that runs ``.venv/bin/nst-sweep`` once (no -m)."""
    text = (REPO / "README.md").read_text().replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not re.match(r"\.venv/bin/nst-sweep(\s|$)", line):  # not nst-sweep-sync
            continue
        args = shlex.split(line)[1:]
        if "-m" not in args:
            commands.append(args)
    return commands


@pytest.mark.parametrize("args", readme_commands(), ids=lambda a: " ".join(a) or "(none)")
def test_readme_command_composes_and_validates(args: list[str], tmp_path: Path) -> None:
    # Placeholders a reader fills in ($HOME/photo.jpg, runs/outputs/.../result.png) exist here.
    image = tmp_path / "image.png"
    from conftest import synthetic_content, write_png

    write_png(image, synthetic_content(32))
    args = [re.sub(r"=(\$HOME/\S+|runs/outputs/\.\.\./\S+)", f"={image}", a) for a in args]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=args)
    config = OmegaConf.to_container(cfg, resolve=False)
    config["output"] = str(tmp_path / "out.png")  # type: ignore[index]
    RunSettings.from_mapping(config)  # type: ignore[arg-type]


def test_there_are_commands_to_check() -> None:
    assert len(readme_commands()) >= 8
