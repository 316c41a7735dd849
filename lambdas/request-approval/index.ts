/** Placeholder while the step is being written. */
export const handler = async (): Promise<never> => {
  throw new Error('not implemented');
};
