"""Where a job runs: Beam pipeline options, the forked local runner, file access through Beam's file systems."""
