"""`make up` keeps the platform's fixed ports out of the kernel's choice of local ports for
outgoing connections (net.ipv4.ip_local_reserved_ports): 50052, 50056 and 55432 lie in Linux's
ephemeral range, and a service's own connection to PostgreSQL once took audit's gRPC port just
before audit bound it. Exercised on stand-in files for the two /proc/sys entries."""

from __future__ import annotations

from pathlib import Path

from tests import local_files


def infra(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("MINSHENG_DATA", str(tmp_path))
    return local_files.load("deploy/local/infra.py", "infra_reserved_ports")


def proc_files(tmp_path: Path, reserved: str) -> tuple[Path, Path]:
    (tmp_path / "reserved").write_text(reserved + "\n")
    (tmp_path / "range").write_text("32768\t60999\n")
    return tmp_path / "reserved", tmp_path / "range"


def test_ports_in_the_ephemeral_range_are_added_and_others_left_out(monkeypatch, tmp_path):
    reserved, ephemeral = proc_files(tmp_path, "")
    got = infra(monkeypatch, tmp_path).reserve_ports([8101, 50056, 55432, 50052, 50056],
                                                     reserved, ephemeral)
    assert got == [50052, 50056, 55432]  # 8101 is below the range: never handed out
    assert reserved.read_text() == "50052,50056,55432"


def test_what_is_reserved_already_is_kept_and_not_added_twice(monkeypatch, tmp_path):
    reserved, ephemeral = proc_files(tmp_path, "40000-40010,50056")
    got = infra(monkeypatch, tmp_path).reserve_ports([40005, 50056, 51056], reserved, ephemeral)
    assert got == [51056]
    assert reserved.read_text() == "40000-40010,50056,51056"
    assert infra(monkeypatch, tmp_path).reserve_ports([51056], reserved, ephemeral) == []


def test_a_machine_without_the_setting_is_left_alone(monkeypatch, tmp_path):
    missing = tmp_path / "no" / "such" / "file"
    assert infra(monkeypatch, tmp_path).reserve_ports([50056], missing, missing) == []
    assert not missing.exists()
