"The docs site: `make docs` builds it offline, and headless Chromium renders every notebook page with its figures and no broken link."
import http.server, json, os, shutil, subprocess, sys, threading, urllib.error, urllib.request
from functools import partial
from pathlib import Path
from urllib.parse import urljoin, urlsplit
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
# CI installs Debian's chromium (.ci/run) and sets METAMATH_REQUIRE_BROWSER=1, so there this test can only pass or fail
need = os.environ.get('METAMATH_REQUIRE_BROWSER', '') not in ('', '0')
pytestmark = pytest.mark.skipif(not CHROMIUM and not need, reason='no chromium (apt-get install chromium)')
# flags for a closed network: no background connections, no sandbox as root
FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync']

def pages()->dict[str,str]:
    "URL path of each notebook's page -> its title (the notebook's `# heading`)"
    out = {}
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        if nb.name.startswith('_'): continue
        md = next(c for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'markdown')
        title = next(l[2:].strip() for l in ''.join(md['source']).splitlines() if l.startswith('# '))
        out['/' if nb.stem == 'index' else f'/{nb.stem}/'] = title
    return out

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The site built by `make docs` into a temporary folder, served on 127.0.0.1"
    out = tmp_path_factory.mktemp('site')
    r = subprocess.run(['make', '-s', '-o', 'setup', 'docs', f'VENV={sys.prefix}', f'SITE={out}'], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), partial(QuietHandler, directory=str(out)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{srv.server_port}', out
    srv.shutdown()

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass

def status(url:str)->int:
    try:
        with urllib.request.urlopen(url) as r: return r.status
    except urllib.error.HTTPError as e: return e.code

def test_every_notebook_page_renders(site):
    from playwright.sync_api import sync_playwright
    assert CHROMIUM, 'chromium is required here (METAMATH_REQUIRE_BROWSER is set): apt-get install chromium'
    base, out = site
    want, bad = pages(), []
    assert len(want) >= 12, want
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        errors = []
        page.on('pageerror', lambda e: errors.append(str(e)))
        links = set()
        for path,title in want.items():
            errors.clear()
            resp = page.goto(base + path, wait_until='load')
            if resp is None or resp.status != 200: bad.append(f'{path}: HTTP {resp and resp.status}'); continue
            text = page.inner_text('article') if page.query_selector('article') else ''
            if title not in text: bad.append(f'{path}: the title {title!r} is not on the page')
            if page.query_selector_all('article .jp-Cell, article .cell, article .jp-CodeCell') == [] and path != '/':
                bad.append(f'{path}: no notebook cells rendered')
            imgs = page.eval_on_selector_all('article img', 'els => els.map(e => [e.getAttribute("src"), e.complete && e.naturalWidth > 0])')
            bad += [f'{path}: image {src} does not load' for src,ok in imgs if not ok]
            if path == '/': assert any('figures/' in (s or '') for s,_ in imgs), 'the index page shows no figure'
            bad += [f'{path}: script error {e}' for e in errors]
            for href in page.eval_on_selector_all('a[href]', 'els => els.map(e => e.href)'):
                u = urlsplit(href)
                if u.netloc == urlsplit(base).netloc: links.add((path, urljoin(href, u.path)))
        browser.close()
    bad += [f'{path}: broken link {url}' for path,url in sorted(links) if status(url) != 200]
    print(f"{len(want)} pages, {len(links)} internal links checked")
    assert not bad, '\n'.join(bad[:40])
