// Turns task descriptions into a run order that respects dependencies.
'use strict';

const { TaskQueue } = require('./queue');

class CycleError extends Error {
  constructor(names) {
    super(`dependency cycle between: ${names.join(', ')}`);
    this.names = names;
  }
}

function parseDuration(text) {
  const match = /^(\d+)\s*(ms|s|m|h)$/.exec(text.trim());
  if (!match) {
    throw new Error(`bad duration: ${text}`);
  }
  const factor = { ms: 1, s: 1000, m: 60000, h: 3600000 }[match[2]];
  return Number(match[1]) * factor;
}

function normalizeTask(raw) {
  return {
    name: raw.name,
    priority: raw.priority ?? 5,
    after: raw.after ?? [],
    durationMs: raw.duration ? parseDuration(raw.duration) : 0,
  };
}

function runOrder(rawTasks) {
  const tasks = new Map(rawTasks.map((raw) => [raw.name, normalizeTask(raw)]));
  const waiting = new Map();
  const dependents = new Map();
  for (const task of tasks.values()) {
    waiting.set(task.name, task.after.length);
    for (const dep of task.after) {
      if (!tasks.has(dep)) {
        throw new Error(`${task.name} depends on unknown task ${dep}`);
      }
      if (!dependents.has(dep)) dependents.set(dep, []);
      dependents.get(dep).push(task.name);
    }
  }
  const ready = new TaskQueue();
  for (const [name, count] of waiting) {
    if (count === 0) ready.push(name, tasks.get(name).priority);
  }
  const order = [];
  while (ready.size > 0) {
    const name = ready.pop();
    order.push(name);
    for (const next of dependents.get(name) ?? []) {
      const left = waiting.get(next) - 1;
      waiting.set(next, left);
      if (left === 0) ready.push(next, tasks.get(next).priority);
    }
  }
  if (order.length !== tasks.size) {
    const stuck = [...waiting].filter(([, count]) => count > 0).map(([name]) => name);
    throw new CycleError(stuck.sort());
  }
  return order;
}

function totalDuration(rawTasks) {
  return rawTasks.map(normalizeTask).reduce((sum, task) => sum + task.durationMs, 0);
}

module.exports = { CycleError, parseDuration, runOrder, totalDuration };
