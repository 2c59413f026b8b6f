// A transaction that must end early with an answer (a batch meets an
// unknown ref, a token's publisher was deleted meanwhile) throws a RollBack:
// the database undoes all the transaction did, and its caller answers with
// what the RollBack carries instead of failing.
export class RollBack<T> extends Error {
  constructor(readonly answer: T) {
    super('transaction rolled back with an answer');
  }
}

/** Runs a transaction: its result, or the answer of the RollBack that ended it (it must carry a T). */
export async function answerOf<T>(transaction: () => T | Promise<T>): Promise<T> {
  try {
    return await transaction();
  } catch (err) {
    if (err instanceof RollBack) return err.answer as T;
    throw err;
  }
}
