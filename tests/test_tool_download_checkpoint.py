"""tools/download_checkpoint.py against an HTTP server on 127.0.0.1 (a thread of this test)
serving small generated weight files: a good one, a truncated one, one of another architecture,
a transfer cut short then resumed. No other network."""
import hashlib
import io
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from video_swin_plugin.apis.inference import init_recognizer
from video_swin_plugin.errors import UsageError

from .helpers import load_tool

# the real entry's URL and name; its model swapped for the tiny recognizer
NAME = 'swin_tiny_patch244_window877_kinetics400_1k'
FILE = f'{NAME}.pth'


class Files(BaseHTTPRequestHandler):
    """GET with Range support. ``server.files`` maps paths to bytes; ``server.cut`` maps a path
    to a byte count after which the next response to it breaks off (Content-Length still says
    the whole); ``server.ignore_range`` answers every request with the whole file."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        server = self.server
        server.log.append((self.path, self.headers.get('Range')))
        data = server.files.get(self.path)
        if data is None:
            self.send_error(404, 'Not Found')
            return
        start = 0
        ranged = self.headers.get('Range')
        if ranged and not server.ignore_range:
            start = int(ranged[len('bytes='):].rstrip('-'))
            if start >= len(data):
                self.send_response(416)
                self.send_header('Content-Range', f'bytes */{len(data)}')
                self.send_header('Content-Length', '0')
                self.end_headers()
                return
            self.send_response(206)
            self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        cut = server.cut.pop(self.path, None)
        self.wfile.write(body if cut is None else body[:cut])
        if cut is not None:
            self.close_connection = True

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), Files)
    httpd.files, httpd.cut, httpd.log, httpd.ignore_range = {}, {}, [], False
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.base = f'http://127.0.0.1:{httpd.server_address[1]}/v1.0.4'
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope='module')
def good(tiny_recognizer) -> bytes:
    """An official-layout file ({'state_dict': ...}) of the tiny recognizer, as bytes."""
    return Path(tiny_recognizer.checkpoint).read_bytes()


@pytest.fixture
def download(tiny_recognizer):
    """``download(dest, *args)``: the tool's exit status, verifying against the tiny
    recognizer's config."""
    def run(dest: Path, *args) -> int:
        tool = load_tool('download_checkpoint')
        return tool.main([NAME, '--dest', str(dest), '--config', tiny_recognizer.config,
                          *map(str, args)])
    return run


def test_good_file_is_saved_once_verified(server, good, download, tmp_path, capsys):
    server.files[f'/v1.0.4/{FILE}'] = good
    assert download(tmp_path, '--url-base', server.base) == 0
    assert (tmp_path / FILE).read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE]  # no .part left
    assert f'saved {tmp_path / FILE} (strict load: ok)' in capsys.readouterr().out
    # a second run checks the file it has and asks the server nothing
    assert download(tmp_path, '--url-base', server.base) == 0
    assert len(server.log) == 1 and 'is already there' in capsys.readouterr().out


def test_sha256_is_checked_when_given(server, good, download, tmp_path, capsys):
    server.files[f'/v1.0.4/{FILE}'] = good
    right, wrong = hashlib.sha256(good).hexdigest(), '0' * 64
    assert download(tmp_path, '--url-base', server.base, '--sha256', wrong) == 1
    assert f'SHA-256 is {right}, expected {wrong}' in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing kept
    assert download(tmp_path, '--url-base', server.base, '--sha256', right.upper()) == 0
    assert 'strict load, SHA-256: ok' in capsys.readouterr().out


def test_truncated_file_fails_verification_and_nothing_is_kept(server, good, download, tmp_path,
                                                               capsys):
    server.files[f'/v1.0.4/{FILE}'] = good[:len(good) // 2]  # served whole, but half a file
    assert download(tmp_path, '--url-base', server.base) == 1
    err = capsys.readouterr().err
    assert 'failed verification, nothing kept' in err and 'not a readable PyTorch checkpoint' in err
    assert list(tmp_path.iterdir()) == []


def test_wrong_architecture_fails_verification_naming_keys(server, tiny_recognizer, download,
                                                           tmp_path, capsys):
    model = init_recognizer(tiny_recognizer.config, cfg_options={'model.cls_head.num_classes': 5})
    buffer = io.BytesIO()
    torch.save({'state_dict': model.state_dict()}, buffer)
    server.files[f'/v1.0.4/{FILE}'] = buffer.getvalue()
    assert download(tmp_path, '--url-base', server.base) == 1
    err = capsys.readouterr().err
    assert 'failed verification' in err and 'cls_head.fc_cls.weight: checkpoint (5, 128)' in err
    assert list(tmp_path.iterdir()) == []


def test_interrupted_transfer_resumes_with_a_range_request(server, good, download, tmp_path,
                                                           capsys):
    path = f'/v1.0.4/{FILE}'
    server.files[path] = good
    cut = len(good) * 2 // 5
    server.cut[path] = cut
    assert download(tmp_path, '--url-base', server.base) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f'error: {server.base}/{FILE}: transfer ended after {cut} of {len(good)} '
                   f'bytes; rerun to resume from {tmp_path / FILE}.part']
    assert (tmp_path / f'{FILE}.part').read_bytes() == good[:cut]
    assert not (tmp_path / FILE).exists()

    assert download(tmp_path, '--url-base', server.base) == 0
    assert server.log == [(path, None), (path, f'bytes={cut}-')]
    assert '(resuming)' in capsys.readouterr().out
    assert (tmp_path / FILE).read_bytes() == good and not (tmp_path / f'{FILE}.part').exists()


def test_server_without_range_support_restarts_the_transfer(server, good, download, tmp_path):
    server.files[f'/v1.0.4/{FILE}'] = good
    server.ignore_range = True
    (tmp_path / f'{FILE}.part').write_bytes(b'junk that is not the start of the file')
    assert download(tmp_path, '--url-base', server.base) == 0
    assert (tmp_path / FILE).read_bytes() == good


def test_complete_part_file_is_verified_without_a_new_transfer(server, good, download, tmp_path):
    server.files[f'/v1.0.4/{FILE}'] = good
    (tmp_path / f'{FILE}.part').write_bytes(good)  # killed after the transfer, before renaming
    assert download(tmp_path, '--url-base', server.base) == 0
    assert server.log == [(f'/v1.0.4/{FILE}', f'bytes={len(good)}-')]  # answered 416
    assert (tmp_path / FILE).read_bytes() == good


def test_offline_is_one_clear_line(download, tmp_path, capsys):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    assert download(tmp_path, '--url-base', f'http://127.0.0.1:{port}/x', '--timeout', 5) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f'error: cannot reach http://127.0.0.1:{port}/x/'
                                               f'{FILE}: ')
    assert 'offline?' in err[0]
    assert list(tmp_path.iterdir()) == []


def test_http_error_is_named(server, download, tmp_path, capsys):
    assert download(tmp_path, '--url-base', server.base) == 1  # serves nothing: 404
    assert f'error: {server.base}/{FILE}: HTTP 404' in capsys.readouterr().err


def test_existing_file_is_never_replaced(server, good, download, tmp_path, capsys):
    server.files[f'/v1.0.4/{FILE}'] = good
    (tmp_path / FILE).write_bytes(b'not weights')
    assert download(tmp_path, '--url-base', server.base) == 1
    assert 'exists but fails verification' in capsys.readouterr().err
    assert (tmp_path / FILE).read_bytes() == b'not weights' and server.log == []


def test_names_without_weights_and_unknown_names(tmp_path):
    tool = load_tool('download_checkpoint')
    with pytest.raises(UsageError, match=r'sowsleep_synthetic_tiny has no published weights to '
                       r'download; it ships with the package: .*demo/sowsleep_synthetic_tiny.pth'):
        tool.main(['sowsleep_synthetic_tiny', '--dest', str(tmp_path)])
    with pytest.raises(UsageError, match="unknown model 'swin_tiny'"):
        tool.main(['swin_tiny', '--dest', str(tmp_path)])
