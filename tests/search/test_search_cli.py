"""`bulkdl search` through the CLI, on a real pull from the emulator: what a user sees."""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime
from pathlib import Path

from bulkdl.emulator.archives import corrupt_archive
from tests.conftest import run_cli
from tests.search.conftest import Pull, member_lines, oracle, tar_gz

NEEDLE = re.compile(r"\w+ needle \w+")
ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) ")


def _search(pull: Pull, *args: str) -> tuple[int, list[str], str]:
    result = run_cli(["search", *args, str(pull.out)])
    return result.exit_code, result.stdout.splitlines(), result.stderr


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_matches_carry_provenance_and_equal_a_plain_grep(pull: Pull) -> None:
    code, lines, _ = _search(pull, "Election succeeded|Heartbeat failed")
    expected = oracle(pull, rb"Election succeeded|Heartbeat failed")
    assert code == 0
    assert expected, "the emulator's archives carry the incident"
    assert lines == expected  # group/job:member:line:text, in the manifest's order
    assert any("/27017/mongodb/mongodb.log:" in line for line in lines)


def test_fixed_string_ignore_case_invert_and_max_count(pull: Pull) -> None:
    g = ["--group", pull.groups[0]]
    code, fixed, _ = _search(pull, *g, "-F", "-i", "ELECTION SUCCEEDED, assuming")
    assert code == 0
    assert fixed == oracle(pull, rb"(?i)election succeeded, assuming", pull.groups[0])
    code, regex_as_text, _ = _search(pull, *g, "-F", "needle.*")
    assert code == 1
    assert regex_as_text == []
    _, first, _ = _search(pull, *g, "-m", "1", "Connection accepted")
    members = [":".join(line.split(":", 2)[:2]) for line in first]  # group/job:member
    assert len(members) == len(set(members)) > 1  # one line per member
    code, inverted, _ = _search(pull, *g, "-c", "-v", "Connection")
    total = sum(int(line.rsplit(":", 1)[1]) for line in inverted)
    everything = sum(1 for _, _, p in pull.archives(pull.groups[0]) for _ in member_lines(p))
    _, matching, _ = _search(pull, *g, "-c", "Connection")
    assert total == everything - sum(int(line.rsplit(":", 1)[1]) for line in matching)


def test_count_per_host_and_files_with_matches(pull: Pull) -> None:
    errors = rb"Heartbeat failed|Error receiving request"
    _, counts, _ = _search(pull, "-c", errors.decode())
    per_host = dict(line.rsplit(":", 1) for line in counts)
    expected: dict[str, int] = {}
    for line in oracle(pull, errors):
        host = line.split(":", 2)[1].split("/", 1)[0]
        expected[host] = expected.get(host, 0) + 1
    assert {h: int(n) for h, n in per_host.items() if int(n)} == expected
    assert expected, "the incident's connection errors are in the pull"
    assert all(h.startswith("node2.") for h in expected), "from one host per replica set"
    assert set(pull.hosts) <= set(per_host)  # hosts without a match are counted as 0
    _, files, _ = _search(pull, "-l", errors.decode())
    expected_files = {":".join(line.split(":", 2)[:2]) for line in oracle(pull, errors)}
    assert sorted(files) == sorted(expected_files)


def test_json_objects_carry_the_mongod_fields(pull: Pull) -> None:
    code, lines, _ = _search(pull, "--json", "--id", "21450", ".")
    docs = [json.loads(line) for line in lines]
    assert code == 0
    assert docs
    for doc in docs:
        assert doc["groupId"] in pull.groups
        assert len(doc["jobId"]) == 24
        assert doc["member"].endswith("/mongodb/mongodb.log")
        assert doc["host"] in pull.hosts
        assert (doc["s"], doc["c"], doc["id"]) == ("I", "ELECTION", 21450)
        assert doc["msg"] == "Election succeeded, assuming primary role"
        assert doc["t"].endswith("Z")
        assert doc["attr"]["term"] > 0
        assert json.loads(doc["text"])["t"]["$date"].startswith(doc["t"][:19])


def test_time_window_on_mongod_json_lines(pull: Pull) -> None:
    _, everything, _ = _search(pull, "--timeline", "--severity", "E", ".")
    times = [_ms(ISO.match(line)[1]) for line in everything]  # type: ignore[index]
    start, end = times[len(times) // 3], times[2 * len(times) // 3]
    frm, to = (datetime.fromtimestamp(t / 1000).astimezone().isoformat() for t in (start, end))
    code, window, _ = _search(pull, "--timeline", "--severity", "E", "--from", frm, "--to", to, ".")
    assert code == 0
    assert window == [line for line, t in zip(everything, times, strict=True) if start <= t <= end]
    assert len(window) < len(everything)


def test_time_window_on_text_and_agent_formats(pull: Pull) -> None:
    g = ["--group", pull.odd_group]
    code, lines, _ = _search(
        pull, *g, "--from", "2019-03-07T10:00:00Z", "--to", "2019-03-07T11:00Z", "needle"
    )
    # 10:30-0100 is 11:30 UTC (outside); the untimed line is dropped under a window
    assert sorted(NEEDLE.search(line)[0] for line in lines) == [  # type: ignore[index]
        "agent needle old", "text needle one"]  # fmt: skip
    code, lines, _ = _search(pull, *g, "--to", "2019-03-07T11:30Z", "--severity", "E", "needle")
    assert sorted(NEEDLE.search(line)[0] for line in lines) == [  # type: ignore[index]
        "agent needle old", "rotated needle early", "text needle two"]  # fmt: skip
    code, untimed, _ = _search(pull, *g, "three")
    assert code == 0
    assert len(untimed) == 1


def test_rotated_members_ftdc_bytes_and_escaped_names(pull: Pull) -> None:
    g = ["--group", pull.odd_group]
    code, lines, err = _search(pull, *g, "--show-skipped", "needle")
    joined = "\n".join(lines)
    assert code == 0
    assert "mongodb.log.2019-03-07T10-00-00.gz:1:" in joined  # inflated inside the archive
    assert "bytes.log:1:caf" in joined  # invalid UTF-8 searched as bytes
    assert "evil\\x1b[31m.example.net/27017/mongodb/mongodb.log:1:escape needle" in joined
    assert "\x1b" not in joined
    assert "ftdc/metrics." in err
    assert "FTDC" in err
    assert "ftdc" not in joined
    _, _, err = _search(pull, *g, "--show-skipped", "--from", "2019-03-07T10:00:30Z", "needle")
    assert "mongodb.log.2019-03-07T10-00-00.gz: rotated before --from" in err


def test_timeline_is_in_time_order_across_hosts(pull: Pull) -> None:
    groups = ["--group", pull.groups[0], "--group", pull.groups[1]]
    code, lines, _ = _search(pull, *groups, "--timeline", "--component", "REPL", ".")
    times = [ISO.match(line)[1] for line in lines]  # type: ignore[index]
    assert code == 0
    assert times == sorted(times)
    hosts = {line.split(" ", 1)[1].split(":", 2)[1].split("/", 1)[0] for line in lines}
    assert len(hosts) >= 4  # both replica sets' primaries and electees
    components = {json.loads(line.split(" ", 1)[1].split(":", 3)[-1])["c"] for line in lines}
    assert components == {"REPL", "ELECTION", "REPL_HB"}  # --component REPL covers its children
    _, exact, _ = _search(
        pull, *groups, "--timeline", "--component", "REPL", "--exact-component", "."
    )
    assert exact
    assert all('"c":"REPL"' in line for line in exact)


def test_summary_counts_by_severity_per_host(pull: Pull) -> None:
    code, lines, _ = _search(
        pull, "--summary", "--json", "--severity", "E,W", "--log-type", "mongodb", "."
    )
    rows = json.loads(lines[0])["hosts"]
    assert code == 0
    assert rows
    for row in rows:
        _, n, _ = _search(
            pull, "--host", row["host"], "--severity", "E", "--log-type", "mongodb", "-c", "."
        )
        assert row["bySeverity"]["E"] == int(n[0].rsplit(":", 1)[1])
        assert row["matches"] == sum(row["bySeverity"].values())
        assert row["first"] <= row["last"]
    _, table, _ = _search(pull, "--summary", "--severity", "E", ".")
    assert table[0].split()[:3] == ["host", "F", "E"]
    assert len(table) == len(rows) + 1


def test_exit_codes_and_errors_before_reading(pull: Pull, tmp_path: Path) -> None:
    assert _search(pull, "no such text anywhere")[0] == 1
    empty = tmp_path / "nothing"
    empty.mkdir()
    for bad in (["("], ["--from", "yesterday-ish", "x"], ["--severity", "Q", "x"]):
        result = run_cli(["search", *bad, str(empty)])
        assert result.exit_code == 2, result.output
        assert "manifest" not in result.stderr  # refused before looking at OUT
        assert len(result.stderr.strip().splitlines()) <= 2
    result = run_cli(["search", "x", str(empty)])
    assert result.exit_code == 2
    assert "no manifest" in result.stderr


def test_a_corrupt_archive_is_named_and_the_rest_searched(pull_copy: Pull) -> None:
    (_gid, _job, path), *rest = pull_copy.archives(pull_copy.groups[0])
    path.write_bytes(corrupt_archive(path.read_bytes()))
    rest[0][2].write_bytes(rest[0][2].read_bytes()[: rest[0][2].stat().st_size // 3])
    code, lines, err = _search(pull_copy, "Election succeeded")
    assert code == 0
    assert str(path) in err
    assert str(rest[0][2]) in err
    assert "truncated" in err
    assert "warning: 2 of" in err
    assert any(f"/{rest[1][1]}:" in line for line in lines)
    for _, _, other in pull_copy.archives():
        other.write_bytes(b"not gzip at all")
    code, lines, err = _search(pull_copy, "Election succeeded")
    assert code == 2
    assert lines == []
    assert "no archive could be searched" in err


def test_processes_and_threads_print_the_same(pull: Pull) -> None:
    _, serial, _ = _search(pull, "-j", "1", "Slow query")
    _, procs, _ = _search(pull, "-j", "2", "Slow query")
    _, threads, _ = _search(pull, "-j", "2", "--pool", "thread", "Slow query")
    assert serial == procs == threads
    assert serial


def test_raw_prints_the_lines_unchanged(pull: Pull) -> None:
    _, lines, _ = _search(pull, "--raw", "--slow", "2000", ".")
    assert lines
    for line in lines:
        doc = json.loads(line)
        assert doc["attr"]["durationMillis"] >= 2000
        assert doc["msg"] == "Slow query"


def test_the_readme_example_prints_what_the_readme_shows(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Search a pull") :]
    block = section[section.index("```console\n$ bulkdl search --summary") :].split("```")[1]
    command, *expected = block.splitlines()[1:]
    out = tmp_path / "bulkdl-demo"
    assert run_cli(["demo", "--out", str(out), "-q"]).exit_code == 0
    args = command.removeprefix("$ bulkdl ").split()
    result = run_cli([*args[:-1], str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == expected


def test_colour_only_when_asked_or_on_a_terminal(pull: Pull) -> None:
    _, plain, _ = _search(pull, "--group", pull.groups[0], "Election succeeded")
    _, coloured, _ = _search(
        pull, "--group", pull.groups[0], "--color", "always", "Election succeeded"
    )
    assert plain
    assert "\x1b[" not in "".join(plain)
    assert len(coloured) == len(plain)
    assert all("\x1b[1;31mElection succeeded\x1b[0m" in line for line in coloured)
    assert [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in coloured] == plain


def test_a_rotated_file_that_started_after_to_is_not_read(pull_copy: Pull) -> None:
    def line(hh: int, text: str) -> bytes:
        return f'{{"t":{{"$date":"2019-03-07T{hh:02d}:30:00.000+00:00"}},"s":"I",  "c":"-", "id":1,"msg":"{text}"}}\n'.encode()  # noqa: E501

    folder = "h.example.net/27017/mongodb"
    crafted = tar_gz(
        {
            f"{folder}/mongodb.log.2019-03-07T10-00-00.gz": gzip.compress(line(9, "needle early")),
            f"{folder}/mongodb.log.2019-03-07T11-00-00.gz": gzip.compress(line(10, "needle late")),
        }
    )
    (_, _, path), *_ = pull_copy.archives(pull_copy.odd_group)
    path.write_bytes(crafted)
    args = ["--group", pull_copy.odd_group, "--show-skipped", "--to", "2019-03-07T09:45Z"]
    code, lines, err = _search(pull_copy, *args, "needle")
    assert code == 0
    assert [line.rsplit('"msg":', 1)[1] for line in lines] == ['"needle early"}']
    assert "mongodb.log.2019-03-07T11-00-00.gz: started after --to" in err
