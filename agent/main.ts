// fota-agent composition root (placeholder while the adapters are built).
console.error('fota-agent: not built yet');
process.exitCode = 70;
