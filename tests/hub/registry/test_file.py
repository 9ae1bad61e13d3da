"""Unit tests of hub/registry/file.py: the registry file and importing it into the store."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.domain.model import AlarmKind
from hub.errors import RegistryError
from hub.registry.commands import read_registry
from hub.registry.file import RegistryFile, import_registry, load_registry_file
from hub.store import admin
from hub.store.db import open_sync

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

SAMPLE = """\
[[sites]]
id = "vcb-xa-phuoc"
name = "Vietcombank PGD Xã Phước"
address = "12 Quốc lộ 1A, ấp 3"
phone = "0272 3812 345"
lat = 10.5412
lon = 106.4021

[[sites]]
id = "nha-thuoc-an"
name = "Nhà thuốc An"

[[buttons]]
id = "vcb-quay-1"
site = "vcb-xa-phuoc"
label = "Quầy giao dịch"
profile = "shelly-gen1"
native_id = "shellybutton1-A4CF12"

[[buttons]]
id = "vcb-quay-2"
site = "vcb-xa-phuoc"

[[buttons]]
id = "an-1"
site = "nha-thuoc-an"
test_mode = true
"""


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = open_sync(tmp_path / "x.db")
    yield connection
    connection.close()


def write(tmp_path: Path, text: str, name: str = "registry.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> RegistryFile:
    return load_registry_file(write(tmp_path, text))


def load_error(tmp_path: Path, text: str) -> tuple[Path, str]:
    path = write(tmp_path, text)
    with pytest.raises(RegistryError) as info:
        load_registry_file(path)
    return path, str(info.value)


def audit_actions(conn: sqlite3.Connection) -> list[str]:
    return [row["action"] for row in conn.execute("SELECT action FROM audit ORDER BY id")]


# -- the file -------------------------------------------------------------------------------------


def test_load_sample_registry(tmp_path: Path) -> None:
    """The documented format loads with every field, defaults filled in."""
    registry = load(tmp_path, SAMPLE)
    assert [s.id for s in registry.sites] == ["vcb-xa-phuoc", "nha-thuoc-an"]
    bank = registry.sites[0]
    assert (bank.name, bank.lat, bank.lon) == ("Vietcombank PGD Xã Phước", 10.5412, 106.4021)
    assert registry.sites[1].address == ""
    assert [b.id for b in registry.buttons] == ["vcb-quay-1", "vcb-quay-2", "an-1"]
    first = registry.buttons[0]
    assert (first.site, first.profile, first.native_id) == (
        "vcb-xa-phuoc",
        "shelly-gen1",
        "shellybutton1-A4CF12",
    )
    assert registry.buttons[2].test_mode is True
    assert registry.buttons[1].test_mode is False


def test_empty_file_is_an_empty_registry(tmp_path: Path) -> None:
    """An empty file is valid: no sites, no buttons."""
    registry = load(tmp_path, "")
    assert (registry.sites, registry.buttons) == ([], [])


def test_missing_file_names_it(tmp_path: Path) -> None:
    """A registry path that does not exist is a RegistryError naming the file."""
    path = tmp_path / "absent.toml"
    with pytest.raises(RegistryError, match="no such file") as info:
        load_registry_file(path)
    assert str(path) in str(info.value)


def test_bad_toml_names_file(tmp_path: Path) -> None:
    """A file that is not TOML is a RegistryError naming the file."""
    path, message = load_error(tmp_path, "[[sites]\n")
    assert message.startswith(f"{path}: not valid TOML: ")


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    """An unknown key is reported with the file and its path in the file (list items numbered
    from 1), with the known key it is close to."""
    path, message = load_error(tmp_path, '[[sites]]\nid = "a"\nname = "A"\ncolour = "red"\n')
    assert message == f"{path}: sites.1.colour: unknown key"
    path, message = load_error(tmp_path, '[[sites]]\nid = "a"\nname = "A"\nadress = "x"\n')
    assert message == f"{path}: sites.1.adress: unknown key (did you mean address?)"


def test_a_quoted_flag_or_number_is_an_error(tmp_path: Path) -> None:
    text = '[[buttons]]\nid = "b"\ntest_mode = "no"\ncheckin_s = "60"\n'
    path, message = load_error(tmp_path, text)
    assert message.splitlines() == [
        f'{path}: buttons.1.test_mode: write true or false, without quotes (got "no")',
        f'{path}: buttons.1.checkin_s: write a number, without quotes (got "60")',
    ]


def test_bad_button_id_names_file_and_key(tmp_path: Path) -> None:
    """A button id that breaks the id pattern is reported at buttons.N.id."""
    path, message = load_error(tmp_path, '[[buttons]]\nid = "ok"\n[[buttons]]\nid = "Quầy 1"\n')
    assert message.startswith(f"{path}: buttons.2.id: ")


def test_every_problem_gets_a_line(tmp_path: Path) -> None:
    """Several problems give one line each, each naming the file and key."""
    path, message = load_error(tmp_path, '[[sites]]\nid = "a"\nname = ""\nlat = 100\n')
    lines = message.splitlines()
    assert [line.split(": ")[1] for line in lines] == ["sites.1.name", "sites.1.lat"]
    assert all(line.startswith(f"{path}: ") for line in lines)


def test_missing_required_name(tmp_path: Path) -> None:
    """A site without a name is refused at sites.1.name."""
    _, message = load_error(tmp_path, '[[sites]]\nid = "a"\n')
    assert ": sites.1.name: " in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[[sites]]\nid = "a"\nname = "A"\n[[sites]]\nid = "a"\nname = "B"\n', "site 'a'"),
        ('[[buttons]]\nid = "b1"\n[[buttons]]\nid = "b1"\n', "button 'b1'"),
    ],
)
def test_duplicate_ids_are_refused(tmp_path: Path, text: str, fragment: str) -> None:
    """A site or button id that appears twice in the file is refused, naming the id."""
    path, message = load_error(tmp_path, text)
    assert str(path) in message
    assert f"{fragment} appears twice" in message


def test_same_id_for_a_site_and_a_button_is_allowed(tmp_path: Path) -> None:
    """Site ids and button ids are separate namespaces."""
    registry = load(
        tmp_path, '[[sites]]\nid = "x"\nname = "X"\n[[buttons]]\nid = "x"\nsite = "x"\n'
    )
    assert registry.buttons[0].site == "x"


# -- importing ------------------------------------------------------------------------------------


def test_import_writes_sites_and_buttons(tmp_path: Path, conn: sqlite3.Connection) -> None:
    """A first import adds every site and button and audits the import once."""
    changed = import_registry(conn, load(tmp_path, SAMPLE), NOW)
    assert changed == {"sites": 2, "buttons": 3}
    bank = conn.execute("SELECT * FROM sites WHERE id = 'vcb-xa-phuoc'").fetchone()
    assert (bank["name"], bank["lat"], bank["test_mode"]) == (
        "Vietcombank PGD Xã Phước",
        10.5412,
        0,
    )
    an = conn.execute("SELECT * FROM buttons WHERE id = 'an-1'").fetchone()
    assert (an["site_id"], an["test_mode"]) == ("nha-thuoc-an", 1)
    assert an["created_at"] == "2026-11-22T08:00:00.000Z"
    (entry,) = conn.execute("SELECT actor, action, detail FROM audit").fetchall()
    assert (entry["actor"], entry["action"]) == ("cli", "registry.imported")
    assert json.loads(entry["detail"]) == {"sites": 2, "buttons": 3}


def test_import_twice_changes_nothing(tmp_path: Path, conn: sqlite3.Connection) -> None:
    """Importing the same file again reports 0 changes and adds no audit entry."""
    registry = load(tmp_path, SAMPLE)
    import_registry(conn, registry, NOW)
    assert import_registry(conn, registry, NOW + timedelta(hours=1)) == {"sites": 0, "buttons": 0}
    assert audit_actions(conn) == ["registry.imported"]
    stamps = {row[0] for row in conn.execute("SELECT updated_at FROM buttons")}
    assert stamps == {"2026-11-22T08:00:00.000Z"}


def test_import_one_changed_field_counts_one(tmp_path: Path, conn: sqlite3.Connection) -> None:
    """Changing one field of one button reports exactly one change and updates that row."""
    import_registry(conn, load(tmp_path, SAMPLE), NOW)
    edited = SAMPLE.replace('label = "Quầy giao dịch"', 'label = "Quầy 1, tầng trệt"')
    later = NOW + timedelta(days=1)
    assert import_registry(conn, load(tmp_path, edited), later) == {"sites": 0, "buttons": 1}
    row = conn.execute("SELECT * FROM buttons WHERE id = 'vcb-quay-1'").fetchone()
    assert row["label"] == "Quầy 1, tầng trệt"
    assert row["updated_at"] == "2026-11-23T08:00:00.000Z"
    assert row["created_at"] == "2026-11-22T08:00:00.000Z"
    assert audit_actions(conn) == ["registry.imported", "registry.imported"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("lat = 10.5412\n", ""),
        ('name = "Nhà thuốc An"', 'name = "Nhà thuốc An Khang"'),
    ],
)
def test_import_site_change_counts_one(
    tmp_path: Path, conn: sqlite3.Connection, old: str, new: str
) -> None:
    """A changed site field, including a value set back to none, counts as one site change."""
    import_registry(conn, load(tmp_path, SAMPLE), NOW)
    assert import_registry(conn, load(tmp_path, SAMPLE.replace(old, new)), NOW) == {
        "sites": 1,
        "buttons": 0,
    }


def test_import_test_mode_change_counts(tmp_path: Path, conn: sqlite3.Connection) -> None:
    """Putting a button into test mode is a change."""
    import_registry(conn, load(tmp_path, SAMPLE), NOW)
    edited = SAMPLE.replace('id = "vcb-quay-2"\n', 'id = "vcb-quay-2"\ntest_mode = true\n')
    assert import_registry(conn, load(tmp_path, edited), NOW)["buttons"] == 1
    row = conn.execute("SELECT test_mode FROM buttons WHERE id = 'vcb-quay-2'").fetchone()
    assert row[0] == 1


def test_import_leaves_entries_not_in_the_file(tmp_path: Path, conn: sqlite3.Connection) -> None:
    """Entries missing from a later file are left alone, not deleted."""
    import_registry(conn, load(tmp_path, SAMPLE), NOW)
    import_registry(conn, load(tmp_path, '[[buttons]]\nid = "new-1"\nsite = "nha-thuoc-an"\n'), NOW)
    ids = sorted(row[0] for row in conn.execute("SELECT id FROM buttons"))
    assert ids == ["an-1", "new-1", "vcb-quay-1", "vcb-quay-2"]


def test_button_may_refer_to_site_already_in_store(
    tmp_path: Path, conn: sqlite3.Connection
) -> None:
    """A button file may name a site imported earlier."""
    import_registry(conn, load(tmp_path, SAMPLE), NOW)
    changed = import_registry(
        conn, load(tmp_path, '[[buttons]]\nid = "x"\nsite = "vcb-xa-phuoc"\n'), NOW
    )
    assert changed == {"sites": 0, "buttons": 1}


def test_button_referring_to_unknown_site_is_refused(
    tmp_path: Path, conn: sqlite3.Connection
) -> None:
    """A button whose site is neither in the file nor the store is refused; nothing is written."""
    text = SAMPLE + '\n[[buttons]]\nid = "lost"\nsite = "nowhere"\n'
    with pytest.raises(RegistryError, match="nowhere"):
        import_registry(conn, load(tmp_path, text), NOW)
    assert conn.execute("SELECT count(*) FROM sites").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM buttons").fetchone()[0] == 0
    assert audit_actions(conn) == []


def test_button_without_site_is_imported(tmp_path: Path, conn: sqlite3.Connection) -> None:
    """A button with no site (not yet installed) is stored with a NULL site."""
    assert import_registry(conn, load(tmp_path, '[[buttons]]\nid = "spare"\n'), NOW)["buttons"] == 1
    assert conn.execute("SELECT site_id FROM buttons WHERE id = 'spare'").fetchone()[0] is None


def test_import_keeps_test_modes_the_file_does_not_write(
    tmp_path: Path, conn: sqlite3.Connection
) -> None:
    """A site put in test mode since the last import stays so when the file (which does not write
    `test_mode` for it) is imported again; a button whose entry writes `test_mode` gets it."""
    import_registry(conn, load(tmp_path, SAMPLE), NOW)
    conn.execute("UPDATE sites SET test_mode = 1 WHERE id = 'vcb-xa-phuoc'")
    conn.execute("UPDATE buttons SET test_mode = 0 WHERE id = 'an-1'")
    changed = import_registry(conn, load(tmp_path, SAMPLE), NOW + timedelta(hours=1))
    assert changed == {"sites": 0, "buttons": 1}
    site = conn.execute("SELECT test_mode FROM sites WHERE id = 'vcb-xa-phuoc'").fetchone()
    assert site["test_mode"] == 1
    button = conn.execute("SELECT test_mode FROM buttons WHERE id = 'an-1'").fetchone()
    assert button["test_mode"] == 1  # its entry says `test_mode = true`


def test_a_button_s_kind_and_press_patterns_are_imported_and_exported(
    tmp_path: Path, conn: sqlite3.Connection
) -> None:
    """The file's `kind` and `press_patterns` reach the store (and the export) as written; a
    button without them is a hold-up button without patterns."""
    text = SAMPLE.replace(
        'id = "vcb-quay-2"\n',
        'id = "vcb-quay-2"\nkind = "fire"\npress_patterns = { long_press = "medical" }\n',
    )
    import_registry(conn, load(tmp_path, text), NOW)
    buttons = {b.id: b for b in admin.all_buttons(conn)}
    assert buttons["vcb-quay-2"].kind is AlarmKind.FIRE
    assert buttons["vcb-quay-2"].press_patterns == (("long_press", AlarmKind.MEDICAL),)
    assert (buttons["an-1"].kind, buttons["an-1"].press_patterns) == (AlarmKind.HOLDUP, ())
    exported = {b.id: b for b in read_registry(conn).buttons}
    assert exported["vcb-quay-2"].press_patterns == {"long_press": AlarmKind.MEDICAL}
    assert import_registry(conn, load(tmp_path, text), NOW) == {"sites": 0, "buttons": 0}
