// A priority queue of tasks: lowest priority number first, then oldest first.
'use strict';

class TaskQueue {
  constructor() {
    this.items = [];
    this.counter = 0;
  }

  get size() {
    return this.items.length;
  }

  push(task, priority = 5) {
    const entry = { task, priority, order: this.counter++ };
    this.items.push(entry);
    this.bubbleUp(this.items.length - 1);
    return entry.order;
  }

  peek() {
    return this.items.length ? this.items[0].task : undefined;
  }

  pop() {
    if (this.items.length === 0) {
      return undefined;
    }
    const top = this.items[0];
    const last = this.items.pop();
    if (this.items.length > 0) {
      this.items[0] = last;
      this.sinkDown(0);
    }
    return top.task;
  }

  before(a, b) {
    if (a.priority !== b.priority) {
      return a.priority < b.priority;
    }
    return a.order < b.order;
  }

  bubbleUp(index) {
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.before(this.items[index], this.items[parent])) {
        break;
      }
      [this.items[index], this.items[parent]] = [this.items[parent], this.items[index]];
      index = parent;
    }
  }

  sinkDown(index) {
    const count = this.items.length;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let best = index;
      if (left < count && this.before(this.items[left], this.items[best])) best = left;
      if (right < count && this.before(this.items[right], this.items[best])) best = right;
      if (best === index) return;
      [this.items[index], this.items[best]] = [this.items[best], this.items[index]];
      index = best;
    }
  }
}

module.exports = { TaskQueue };
