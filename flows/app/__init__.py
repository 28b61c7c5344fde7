"""The application layer above the flow: command line, runner, start-up checks,
logging and the console monitor. Nothing below it imports it."""
