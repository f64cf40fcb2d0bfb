"""One module per subcommand: plain typed functions that return result records."""
