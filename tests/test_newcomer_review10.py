"""What the ninth new-user review left: a --config hint that moved a flag into "options", a doctor warning on a
perfect metric, a verdict on a run cut short, a partial folds run's report, and permutation importance's rows."""
from descend.cli import main


def test_a_config_hint_moves_only_options_and_sends_a_flag_to_the_command_line(tmp_path, capsys):
    """{"target": ..., "max_epochs": 3, "out": "runs/c1"} was shown moved with "out" inside "options", which the
    next run then called an unknown option."""
    config = tmp_path / "config.json"
    config.write_text('{"data": "sales.csv", "target": "sales", "max_epochs": 3, "out": "runs/c1", "colour": 1}')
    assert main(["fit", "--config", str(config)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"descend: error: --config {config} has options at the top level ('max_epochs', 'target'); they go inside "
        '"options", beside "data": {"data": "sales.csv", "options": {"max_epochs": 3, "target": "sales"}}; '
        "'colour' is neither an option nor a key of the file: drop it; "
        "'out' is a flag: give --out on the command line, not in the file")
