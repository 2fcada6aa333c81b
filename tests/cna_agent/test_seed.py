"""cloud-init seed images: made in Python, read back as a guest's cloud-init would."""

from __future__ import annotations

import subprocess
from pathlib import Path
from uuid import uuid4

from cna_agent.protocol import SeedSpec
from cna_agent.seed import LABEL, Seeds, read_seed, seed_iso

SEED = SeedSpec(
    meta_data='{"instance-id": "i-1", "local-hostname": "web-1"}\n',
    network_config='{"version": 2}\n',
    user_data="#cloud-config\n{}\n",
)


def test_the_image_holds_the_three_files_under_their_names() -> None:
    assert read_seed(seed_iso(SEED)) == {
        "meta-data": SEED.meta_data,
        "user-data": SEED.user_data,
        "network-config": SEED.network_config,
    }


def test_without_network_config_the_file_is_left_out() -> None:
    files = read_seed(seed_iso(SeedSpec(meta_data="{}")))
    assert set(files) == {"meta-data", "user-data"}


def test_the_volume_label_is_cidata_as_blkid_sees_it(tmp_path: Path) -> None:
    image = tmp_path / "seed.iso"
    image.write_bytes(seed_iso(SEED))
    out = subprocess.run(
        ["blkid", "-o", "export", str(image)], capture_output=True, text=True, check=True
    ).stdout
    assert f"LABEL={LABEL}" in out.splitlines()
    assert "TYPE=iso9660" in out.splitlines()


def test_seeds_are_written_readable_rewritten_and_removed(tmp_path: Path) -> None:
    seeds, uuid = Seeds(tmp_path / "seeds"), uuid4()
    path = seeds.write(uuid, SEED)
    assert path == tmp_path / "seeds" / f"{uuid}.iso"
    assert path.stat().st_mode & 0o777 == 0o644
    changed = SEED.model_copy(update={"user_data": "#cloud-config\nruncmd: [true]\n"})
    seeds.write(uuid, changed)
    assert read_seed(path.read_bytes())["user-data"] == changed.user_data
    assert list(path.parent.iterdir()) == [path]
    seeds.remove(uuid)
    seeds.remove(uuid)
    assert not path.exists()
