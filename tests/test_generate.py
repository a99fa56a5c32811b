from kb.cli import build_parser
from kb.derive.generate import write_all


def test_generated_files_are_up_to_date() -> None:
    stale = write_all(build_parser(), check=True)
    assert stale == [], f"run 'geokb generate': stale {stale}"
