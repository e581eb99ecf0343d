/**
 * Next.js configuration. The workspace packages are compiled from their TypeScript sources (the
 * `source` export condition and `.js` → `.ts` import specifiers, as `tsc` resolves them), so
 * `next build` needs no package built first. Type checking and linting are the repository's own
 * `typecheck`/`lint` scripts, not `next build`'s.
 */
import { fileURLToPath } from 'node:url';

/** @type {import('next').NextConfig} */
const config = {
  transpilePackages: ['@portcullis/core'],
  outputFileTracingRoot: fileURLToPath(new URL('../..', import.meta.url)),
  typescript: { ignoreBuildErrors: true },
  eslint: { ignoreDuringBuilds: true },
  poweredByHeader: false,
  webpack(webpackConfig) {
    webpackConfig.resolve.conditionNames = ['source', ...(webpackConfig.resolve.conditionNames ?? ['...'])];
    webpackConfig.resolve.extensionAlias = { ...webpackConfig.resolve.extensionAlias, '.js': ['.ts', '.js'] };
    return webpackConfig;
  },
};

export default config;
