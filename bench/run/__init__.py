"""The run machinery by responsibility: options and keys, the per-item pipeline, executors,
progress and summaries. ``bench.runner.run`` ties them together."""
