/** @type {import('next').NextConfig} */
const nextConfig = {
  // No `X-Powered-By: Next.js` on answers.
  poweredByHeader: false,
};

export default nextConfig;
