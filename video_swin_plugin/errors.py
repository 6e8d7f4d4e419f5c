"""The package's error types, in one place.

Every error a user can cause (a bad file, field, key or option) derives from
:class:`PluginError` and from the built-in type it would otherwise be (``ValueError``,
``KeyError``), so ``except ValueError`` keeps working. The command-line tools print these as
one line ``error: ...`` and exit with status 2; any other exception is a bug and keeps its
traceback. Messages name the file, line, field or key and what was expected.
"""


class PluginError(Exception):
    """An input the package cannot take; the message says which and what was expected."""


class UsageError(PluginError, ValueError):
    """A bad option value or combination (command line or API argument)."""


class ConfigError(PluginError, ValueError):
    """A config that lacks or misstates a setting the code needs."""


class UnknownConfigKeyError(ConfigError, KeyError):
    """A ``--cfg-options`` key path the config has no place for."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class CheckpointError(PluginError, ValueError):
    """A weight file that cannot be read as a checkpoint; the message names it."""


class CheckpointMismatchError(CheckpointError):
    """Weights that do not fit a model; the message names every offending key."""


class AnnotationError(PluginError, ValueError):
    """A bad annotation file or row; the message names the file and line."""


class VideoReadError(PluginError, ValueError):
    """A video that is missing, empty or cannot be opened or read; the message names it."""


class RecordingTooShortError(VideoReadError):
    """A video shorter than one clip of the grid; the message names it and both lengths."""


class NonFiniteClipError(PluginError, ValueError):
    """A clip whose pixel values include NaN or Inf; the message says which clip."""
