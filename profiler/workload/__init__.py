"""The model-switch loop: its configuration, the child process that runs it, the runner
that spawns and watches that child (plainly or under a profiler), and the measurements
taken after every unload."""
