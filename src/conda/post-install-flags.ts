// What a package does to an environment beyond unpacking its files, as
// channeldata.json (CEP-38) reports it per name: activation scripts,
// link/unlink scripts, and prefix placeholders to rewrite. Found from
// info/paths.json once, at upload, and stored with the package.

export const FLAG_NAMES = ['activate.d', 'binary_prefix', 'deactivate.d', 'post_link', 'pre_link', 'pre_unlink', 'text_prefix'] as const;
export type PostInstallFlags = Record<(typeof FLAG_NAMES)[number], boolean>;

/** The CEP-38 flags a package's info/paths.json implies. */
export function postInstallFlags(paths: Array<Record<string, unknown>> | null): PostInstallFlags {
  const flags = Object.fromEntries(FLAG_NAMES.map((f) => [f, false])) as PostInstallFlags;
  for (const p of paths ?? []) {
    const path = typeof p._path === 'string' ? p._path : '';
    if (path.startsWith('etc/conda/activate.d/')) flags['activate.d'] = true;
    if (path.startsWith('etc/conda/deactivate.d/')) flags['deactivate.d'] = true;
    const script = /(?:^|\/)\.[^/]+-(post-link|pre-link|pre-unlink)\.(?:sh|bat)$/.exec(path);
    if (script) flags[script[1]!.replace('-', '_') as 'post_link' | 'pre_link' | 'pre_unlink'] = true;
    if (typeof p.prefix_placeholder === 'string' && p.prefix_placeholder !== '') {
      if (p.file_mode === 'binary') flags.binary_prefix = true;
      else flags.text_prefix = true;
    }
  }
  return flags;
}
