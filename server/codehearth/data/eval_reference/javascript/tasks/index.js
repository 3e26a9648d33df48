// Command line: node index.js tasks.json prints the run order and the total time.
'use strict';

const fs = require('fs');
const { CycleError, runOrder, totalDuration } = require('./schedule');

function formatMs(ms) {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60000);
  const seconds = Math.round((ms % 60000) / 1000);
  return `${minutes} min ${seconds} s`;
}

function main(argv) {
  if (argv.length < 1) {
    console.error('usage: node index.js TASKS.json');
    return 2;
  }
  const tasks = JSON.parse(fs.readFileSync(argv[0], 'utf8'));
  try {
    const order = runOrder(tasks);
    order.forEach((name, i) => console.log(`${i + 1}. ${name}`));
    console.log(`total: ${formatMs(totalDuration(tasks))}`);
    return 0;
  } catch (err) {
    if (err instanceof CycleError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}

module.exports = { formatMs, main };
