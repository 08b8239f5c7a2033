"""Speed and scale benchmarks. Each module writes ``benchmarks/results/<name>.json``; figures are
ratios to a baseline measured in the same run, because these machines are noisy."""
