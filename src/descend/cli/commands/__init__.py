"""CLI subcommands, one module each: HELP, add_arguments(parser), run(args) -> exit code. descend.cli finds them."""
