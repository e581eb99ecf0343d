#!/usr/bin/env node
// Stands in for Prisma's schema engine, which `prisma generate` does not run but which the CLI
// would otherwise download from binaries.prisma.sh before any command. binding-prisma never
// needs it: its tables come from the plain SQL in migrations/. Anything that does run it
// (`prisma migrate`, `prisma db push`) gets this error instead of a download.
console.error('binding-prisma: no Prisma schema engine here; apply migrations/*.sql instead of prisma migrate / db push');
process.exit(1);
