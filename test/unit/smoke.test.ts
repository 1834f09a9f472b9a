import { execa } from 'execa';
test('execa ESM loads under jest', async () => {
  const r = await execa('echo', ['hi']);
  expect(r.stdout).toBe('hi');
});
