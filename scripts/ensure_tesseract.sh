#!/usr/bin/env bash
# Debian's Tesseract OCR engine with its Japanese model, and the Noto CJK fonts, for the payslip reader
# (knowledge/payslip_ocr.py) and its generated test payslips (tests/payslip, bench/ocr_bench.py).
# Nothing is downloaded but these Debian packages.
set -euo pipefail
HERE=$(dirname "$0")
WHAT="the payslip reader (OCR)"

"$HERE/ensure_debian_package.sh" /usr/bin/tesseract tesseract-ocr "$WHAT"

# ensure_debian_package.sh checks for an executable; a model or a font is a plain file. Its package's
# /usr/share/doc/PACKAGE directory (searchable, so -x holds) stands in for the check, and the file itself is
# verified after it: a directory left over from a removed package must not hide a missing file.
ensure_data() {
    local file=$1 package=$2
    [ -f "$file" ] && return 0
    "$HERE/ensure_debian_package.sh" "/usr/share/doc/$package" "$package" "$WHAT"
    [ -f "$file" ] || { echo "$file is missing though $package is installed: run 'apt-get install --reinstall $package' as root" >&2; exit 1; }
}

TESSDATA=$(tesseract --list-langs 2>/dev/null | sed -n 's/^List of available languages in "\(.*\)".*/\1/p')
ensure_data "${TESSDATA:-/usr/share/tesseract-ocr/5/tessdata}/jpn.traineddata" tesseract-ocr-jpn
ensure_data /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc fonts-noto-cjk
