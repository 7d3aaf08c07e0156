// "Did you mean": the nearest known word to a misspelt one, only when it is near.
import test from 'ava'
import fc from 'fast-check'
import { didYouMean, editDistance } from '../../src/chain/suggest.ts'

test('a typo or two in a word of some length finds the word; a short or distant one finds nothing', (t) => {
  t.is(didYouMean('rat', ['rate', 'flows']), " (did you mean 'rate'?)")
  t.is(didYouMean('grup', ['group', 'cpu']), " (did you mean 'group'?)")
  t.is(didYouMean('firwall', ['l2fwd', 'firewall', 'nat']), " (did you mean 'firewall'?)")
  t.is(didYouMean('dstprot', ['srcPort', 'dstPort']), " (did you mean 'dstPort'?)", 'two letters swapped, any case')
  t.is(didYouMean('in', ['ip']), '', 'two letters: no guess')
  t.is(didYouMean('bridge', ['l2fwd', 'firewall', 'nat']), '')
  t.is(didYouMean('rate', ['rate']), '', 'the word itself is no suggestion')
})

test('property: the edit distance is symmetric, zero only for equal words, at most the longer length', (t) => {
  const word = fc.string({ maxLength: 8 })
  fc.assert(fc.property(word, word, (a, b) => {
    const d = editDistance(a, b)
    return d === editDistance(b, a) && (d === 0) === (a === b) && d <= Math.max(a.length, b.length)
  }))
  t.is(editDistance('kitten', 'sitting'), 3)
  t.is(editDistance('ab', 'ba'), 1, 'a swap is one edit')
})
