// CommonJS: require() every installed package (Node 20.19+ loads ESM through require() without a
// flag) and print what each exports, for the test to compare.
const names = process.argv.slice(2);
const out = {};
for (const name of names) out[name] = Object.keys(require(name)).sort();
process.stdout.write(JSON.stringify(out));
