// npm run package:deb → dist/fota-agent_<version>_all.deb: the agent artifact (dist/agent/) as a Debian package,
// built with dpkg-deb alone (no debhelper) following Debian policy: files owned by root, the unit in
// /lib/systemd/system, /etc/fota/agent.json as a conffile, maintainer scripts with dh_installsystemd's semantics
// (packaging/deb/), a machine-readable copyright naming every package bundled into the agent, a changelog.
// "all": the bundle is plain JavaScript (dist/agent/manifest.json lists no native add-on).
// Environment: FOTA_DEB_VERSION (default: package.json's), FOTA_DEB_OUT (default dist/), FOTA_DEB_MAINTAINER.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

const ROOT = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const manifest = JSON.parse(readFileSync(join(ROOT, 'dist/agent/manifest.json'), 'utf8'));
if (manifest.nativeAddons.length > 0) throw new Error('package-deb: the agent ships native add-ons: build one package per architecture');
const version = process.env.FOTA_DEB_VERSION ?? pkg.version;
const LIB = '/usr/lib/fota-agent';
const MAINTAINER = process.env.FOTA_DEB_MAINTAINER ?? 'fota maintainers <maintainers@fota-project.org>';
// reproducible: every file dated at the last commit (SOURCE_DATE_EPOCH if set), so the same tree gives the same .deb
const EPOCH = process.env.SOURCE_DATE_EPOCH ?? commitTime();

const stage = mkdtempSync(join(tmpdir(), 'fota-deb-'));
chmodSync(stage, 0o755);
const put = (path, content, mode = 0o644) => {
  const to = join(stage, path);
  mkdirSync(dirname(to), { recursive: true, mode: 0o755 });
  writeFileSync(to, content);
  chmodSync(to, mode);
};
const from = (rel) => readFileSync(join(ROOT, rel));

try {
  put(`${LIB}/fota-agent.mjs`, from('dist/agent/fota-agent.mjs'));
  put(`${LIB}/manifest.json`, from('dist/agent/manifest.json'));
  // the same unit as install.sh's, with the agent where Debian keeps a package's private files
  const unit = from('systemd/fota-agent.service').toString().replaceAll('/opt/fota/fota-agent.mjs', `${LIB}/fota-agent.mjs`);
  if (!unit.includes(`${LIB}/fota-agent.mjs`)) throw new Error('package-deb: the unit does not start /opt/fota/fota-agent.mjs any more: update this script');
  put('lib/systemd/system/fota-agent.service', unit);
  put('usr/bin/fota-agent', `#!/bin/sh\n# the device-side fota-agent commands (fota-agent --help); the service itself is fota-agent.service\nexec node ${LIB}/fota-agent.mjs "$@"\n`, 0o755);
  put('etc/fota/agent.json', from('packaging/deb/agent.json'));
  put('usr/share/doc/fota-agent/README', from('packaging/deb/README'));
  put('usr/share/doc/fota-agent/copyright', copyright());
  put('usr/share/doc/fota-agent/changelog.gz', gzipSync(`fota-agent (${version}) unstable; urgency=medium\n\n  * Release ${version} (see the project's git history).\n\n -- ${MAINTAINER}  ${new Date(Number(EPOCH) * 1000).toUTCString().replace('GMT', '+0000')}\n`, { level: 9 }));
  put('usr/share/man/man1/fota-agent.1.gz', gzipSync(manPage(), { level: 9 }));

  put('DEBIAN/md5sums', md5sums(stage));
  for (const s of ['postinst', 'prerm', 'postrm']) put(`DEBIAN/${s}`, from(`packaging/deb/${s}`), 0o755);
  put('DEBIAN/conffiles', '/etc/fota/agent.json\n');
  put(
    'DEBIAN/control',
    [
      'Package: fota-agent',
      `Version: ${version}`,
      'Architecture: all',
      `Maintainer: ${MAINTAINER}`,
      `Installed-Size: ${installedKiB(stage)}`,
      `Depends: nodejs (>= ${manifest.node.replace(/^>=\s*/, '')}), libubootenv-tool`,
      'Recommends: systemd',
      'Section: admin',
      'Priority: optional',
      `Homepage: ${pkg.homepage ?? 'https://github.com/fota/fota'}`,
      'Description: firmware-over-the-air agent for A/B embedded Linux boards',
      ' The fota device agent serves the LwM2M Device, Firmware Update and',
      ' configuration objects over MQTT, streams signed packages into the',
      ' inactive A/B slot, boots them once for a trial, checks their health,',
      ' and commits or lets the bootloader fall back. It runs as the systemd',
      ' service fota-agent.',
      '',
    ].join('\n'),
  );
  const outDir = process.env.FOTA_DEB_OUT ?? join(ROOT, 'dist');
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, `fota-agent_${version}_all.deb`);
  // xz, root:root whatever the builder's uid, and the changelog's time for every file: the same input gives the same bytes
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, out], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH } });
  console.log(`${out} (${Math.round(statSync(out).size / 1024)} KiB)`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}

function commitTime() {
  try {
    return execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return String(Math.floor(Date.now() / 1000));
  }
}

function manPage() {
  return [
    `.TH FOTA-AGENT 1 "" "fota-agent ${version}" "fota"`,
    '.SH NAME',
    'fota-agent \\- firmware-over-the-air agent for A/B embedded Linux boards',
    '.SH SYNOPSIS',
    '.B fota-agent',
    '.B \\-\\-config',
    '.I FILE',
    '.RB [ \\-\\-check ]',
    '.br',
    '.B fota-agent',
    '.RB [ \\-\\-config',
    '.IR FILE ]',
    '.I command',
    '.RI [ options ]',
    '.SH DESCRIPTION',
    'The agent runs as the systemd service',
    '.BR fota-agent.service ;',
    'its commands on the device (status, install, update, cancel, mark-good, mark-bad) and every option are',
    'described by',
    '.BR "fota-agent \\-\\-help" .',
    '.SH FILES',
    '.TP',
    '.I /etc/fota/agent.json',
    'the configuration',
    '.TP',
    '.I /var/lib/fota-agent',
    'the agent\'s state',
    '.SH SEE ALSO',
    '.BR systemctl (1),',
    '.BR journalctl (1),',
    '.I /usr/share/doc/fota-agent/README',
    '',
  ].join('\n');
}

/** dpkg's md5sums: every file but the conffile (dpkg tracks conffiles itself), "md5  path" */
function md5sums(dir) {
  const lines = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      const rel = p.slice(dir.length + 1);
      if (e.isDirectory()) walk(p);
      else if (!rel.startsWith('DEBIAN/') && !rel.startsWith('etc/')) lines.push(`${createHash('md5').update(readFileSync(p)).digest('hex')}  ${rel}`);
    }
  };
  walk(dir);
  return lines.join('\n') + '\n';
}

function installedKiB(dir) {
  let total = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === 'DEBIAN' && d === dir) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else total += Math.ceil(statSync(p).size / 1024);
    }
  };
  walk(dir);
  return total;
}

/** DEP-5 copyright: the project, then every npm package the bundle contains (from esbuild's metafile), with the
 *  full text of each license that occurs. */
function copyright() {
  const meta = JSON.parse(readFileSync(join(ROOT, 'dist/fota-agent.meta.json'), 'utf8'));
  const names = new Set();
  for (const input of Object.keys(meta.inputs)) {
    const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/g);
    if (m) names.add(m[m.length - 1].slice('node_modules/'.length));
  }
  const licenses = new Map();
  const bundled = [...names].sort().map((name) => {
    const dir = join(ROOT, 'node_modules', name);
    const p = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const license = String(p.license ?? 'UNKNOWN');
    if (!licenses.has(license)) {
      const file = readdirSync(dir).find((f) => /^(licen[sc]e|copying)(\.md|\.txt)?$/i.test(f));
      if (file) licenses.set(license, readFileSync(join(dir, file), 'utf8'));
    }
    return `  ${name} ${p.version} (${license})`;
  });
  const ownLicense = pkg.license ?? 'MIT';
  const own = existsSync(join(ROOT, 'LICENSE')) ? readFileSync(join(ROOT, 'LICENSE'), 'utf8') : undefined;
  if (own) licenses.set(ownLicense, own);
  // a license paragraph is the license's text: the authors' copyright lines belong to the packages above
  const text = (t) => t.trim().split('\n').filter((l) => !/^\s*copyright\b/i.test(l)).join('\n').trim().split('\n').map((l) => (l.trim() === '' ? ' .' : ` ${l}`)).join('\n');
  return [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    'Upstream-Name: fota',
    '',
    'Files: *',
    `Copyright: ${new Date(Number(EPOCH) * 1000).getUTCFullYear()} the fota contributors`,
    `License: ${ownLicense}`,
    'Comment: /usr/lib/fota-agent/fota-agent.mjs also contains these npm packages, bundled:',
    ...bundled,
    '',
    ...[...licenses].flatMap(([name, t]) => [`License: ${name}`, text(t), '']),
  ].join('\n');
}
