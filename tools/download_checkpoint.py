"""Download a model's released weights by its config name, and keep them only once verified.

    python tools/download_checkpoint.py NAME [--dest checkpoints] [--url-base URL]
    vsp-download NAME [--dest checkpoints]        (the same, after pip install)

NAME is a config name, e.g. swin_tiny_patch244_window877_kinetics400_1k.

The URL is the model's Weights in the model index (configs/**/metafile.yml: the official
SwinTransformer/storage v1.0.4 release files). The transfer goes to DEST/<file>.part; when a
.part is already there (an interrupted run), the download resumes from its end with an HTTP
Range request. The file is renamed to DEST/<file> only after it passed every check: its SHA-256
where the index (or --sha256) gives one (the releases publish none), and a strict load into the
config's model (every key, no extra key, every shape). Exit status: 0 when DEST/<file> is there
and verified, 1 when the download or a check failed (a failed check keeps nothing), 2 for a bad
name or option.
"""
import argparse
import os
import os.path as osp
import re
import sys
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout without install
from video_swin_plugin import __version__, model_zoo  # noqa: E402
from video_swin_plugin.errors import PluginError, UsageError  # noqa: E402

CHUNK = 1 << 20
USER_AGENT = f'video_swin_plugin/{__version__} (tools/download_checkpoint.py)'


class DownloadError(Exception):
    """The transfer failed (network, HTTP status, cut short); the message is one line."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('name', help='model (config) name, e.g. '
                        'swin_tiny_patch244_window877_kinetics400_1k')
    parser.add_argument('--dest', default='checkpoints', help='folder (default: checkpoints)')
    parser.add_argument('--url-base', help="download from this folder URL instead of the "
                        "index's (a mirror; the file name stays the same)")
    parser.add_argument('--config', help="verify against this config (path or name) instead "
                        "of the model's own")
    parser.add_argument('--sha256', help="expected SHA-256 of the file (overrides the index's)")
    parser.add_argument('--timeout', type=float, default=60.0,
                        help='seconds to wait for the server (default 60)')
    return parser.parse_args(argv)


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty() and total:
        print(f'\r  {done / 2**20:.1f} / {total / 2**20:.1f} MiB', end='', file=sys.stderr)


def _reason(e: BaseException) -> str:
    return str(getattr(e, 'reason', None) or e) or type(e).__name__


def fetch(url: str, part: Path, timeout: float = 60.0) -> None:
    """Bring ``part`` to the full content of ``url``, continuing from its current size.

    A server that answers a Range request with the whole file (200) restarts the transfer.
    Raises :class:`DownloadError` (what was kept in ``part`` can be resumed) when the server
    cannot be reached, answers with an error, or the transfer ends before Content-Length.
    """
    have = part.stat().st_size if part.exists() else 0
    headers = {'User-Agent': USER_AGENT}
    if have:
        headers['Range'] = f'bytes={have}-'
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as e:
        if e.code == 416 and have:  # nothing after `have`: complete if the server's size is it
            total = re.fullmatch(r'bytes \*/(\d+)', e.headers.get('Content-Range', '') or '')
            if total and int(total.group(1)) == have:
                return
            part.unlink()  # .part is longer than the file: start again
            return fetch(url, part, timeout)
        raise DownloadError(f'{url}: HTTP {e.code} {e.reason}') from None
    except (URLError, OSError) as e:  # offline, name not resolved, refused, timed out
        raise DownloadError(f'cannot reach {url}: {_reason(e)} (offline? rerun when '
                            'connected)') from None
    with response:
        start = have if response.status == 206 else 0
        if response.status == 206:
            match = re.match(r'bytes (\d+)-', response.headers.get('Content-Range', ''))
            if not match or int(match.group(1)) != have:
                raise DownloadError(f'{url}: the server resumed at the wrong offset '
                                    f'({response.headers.get("Content-Range")!r} for {have})')
        length = response.headers.get('Content-Length')
        total = start + int(length) if length is not None else None
        done = start
        try:
            with open(part, 'ab' if start else 'wb') as f:
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    done += len(chunk)
                    _progress(done, total)
        except OSError as e:  # connection reset, timeout mid-transfer
            raise DownloadError(f'{url}: transfer broke off after {done} bytes ({_reason(e)}); '
                                f'rerun to resume from {part}') from None
        finally:
            if sys.stderr.isatty():
                print(file=sys.stderr)
    if total is not None and done != total:
        raise DownloadError(f'{url}: transfer ended after {done} of {total} bytes; rerun to '
                            f'resume from {part}')


def main(argv=None) -> int:
    args = parse_args(argv)
    entry = model_zoo.get_model(args.name)
    if not entry.weights:
        where = (f'; it ships with the package: {entry.packaged_weights}'
                 if entry.packaged_weights else '')
        raise UsageError(f'{args.name} has no published weights to download{where}')
    url = entry.weights
    if args.url_base:
        url = f'{args.url_base.rstrip("/")}/{entry.filename}'
    config = args.config or entry.config
    sha256 = args.sha256 or entry.sha256
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / entry.filename
    part = final.with_name(final.name + '.part')
    checks = 'strict load' + (', SHA-256' if sha256 else '')

    if final.exists():  # never overwrite or delete a file the user has
        try:
            model_zoo.verify_checkpoint(final, config, sha256)
        except (PluginError, ValueError) as e:
            print(f'error: {final} exists but fails verification ({e}); move it away to '
                  'download again', file=sys.stderr)
            return 1
        print(f'{final} is already there ({checks}: ok)')
        return 0

    print(f'downloading {url}\n       -> {final}' + (' (resuming)' if part.exists() else ''))
    try:
        fetch(url, part, args.timeout)
    except DownloadError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    try:
        model_zoo.verify_checkpoint(part, config, sha256)
    except (PluginError, ValueError) as e:
        part.unlink()
        print(f'error: {url} failed verification, nothing kept: {e}', file=sys.stderr)
        return 1
    os.replace(part, final)
    print(f'saved {final} ({checks}: ok)')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (PluginError, FileNotFoundError) as e:  # bad name, option or --config
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
