"""Reading the text files users give (annotation CSVs, video lists) as spreadsheets save them.

UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8" writes one) and Windows line
ends are read as they are; any other encoding is an error that names the file and where the
text stops being UTF-8, instead of a bare ``UnicodeDecodeError``.
"""
import codecs
import io

from .errors import AnnotationError

_OTHER_BOMS = {codecs.BOM_UTF32_LE: 'UTF-32', codecs.BOM_UTF32_BE: 'UTF-32',
               codecs.BOM_UTF16_LE: 'UTF-16', codecs.BOM_UTF16_BE: 'UTF-16'}
_ADVICE = 'save it as UTF-8 (in Excel: "CSV UTF-8 (Comma delimited)")'


def read_text(path: str) -> str:
    """The text of ``path`` (UTF-8, a leading byte-order mark dropped).

    Raises:
        AnnotationError: the file is not UTF-8 (the message names it, the line and the byte).
    """
    with open(path, 'rb') as f:
        data = f.read()
    for bom, name in _OTHER_BOMS.items():  # UTF-32 LE starts with UTF-16 LE's mark: first
        if data.startswith(bom):
            raise AnnotationError(f'{path}: the file is {name} encoded; {_ADVICE}')
    try:
        return data.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b'\n') + 1
        raise AnnotationError(f'{path}, line {line}: not UTF-8 text (byte 0x{data[e.start]:02x} '
                              f'at offset {e.start}; latin-1 or a Windows code page?); '
                              f'{_ADVICE}') from None


def open_text(path: str) -> io.StringIO:
    """:func:`read_text` as a file object for ``csv`` (universal newlines handled by csv)."""
    return io.StringIO(read_text(path), newline='')
