package generator

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"text/template"
)

var (
	firstNames = []string{"Ada", "Alan", "Barbara", "Claude", "Donald", "Edsger", "Frances", "Grace", "Hedy", "Ivan", "Joan", "Ken", "Linus", "Margaret", "Niklaus", "Radia"}
	lastNames  = []string{"Lovelace", "Turing", "Liskov", "Shannon", "Knuth", "Dijkstra", "Allen", "Hopper", "Lamarr", "Sutherland", "Clarke", "Thompson", "Torvalds", "Hamilton", "Wirth", "Perlman"}
	cities     = []string{"Amsterdam", "Berlin", "Lisbon", "Madrid", "Nairobi", "Osaka", "Paris", "Quito", "Seoul", "Toronto", "Vienna", "Zurich"}
	countries  = []string{"AT", "BR", "CA", "CH", "DE", "ES", "FR", "JP", "KE", "KR", "NL", "PT", "US"}
	words      = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"}
)

// funcs are the template functions; they draw from rng, which the source
// seeds per record so that record N is always the same.
func funcs(rng *rand.Rand) template.FuncMap {
	pickFrom := func(list []string) string { return list[rng.IntN(len(list))] }
	return template.FuncMap{
		"randInt": func(lo, hi int) (int, error) {
			if hi < lo {
				return 0, fmt.Errorf("randInt %d %d: the upper bound is below the lower one", lo, hi)
			}
			return lo + rng.IntN(hi-lo+1), nil
		},
		"randFloat": func(lo, hi float64) float64 { return lo + rng.Float64()*(hi-lo) },
		"pick": func(items ...string) (string, error) {
			if len(items) == 0 {
				return "", fmt.Errorf("pick needs at least one item")
			}
			return pickFrom(items), nil
		},
		"bool":      func() bool { return rng.IntN(2) == 1 },
		"firstName": func() string { return pickFrom(firstNames) },
		"lastName":  func() string { return pickFrom(lastNames) },
		"name":      func() string { return pickFrom(firstNames) + " " + pickFrom(lastNames) },
		"email": func() string {
			return strings.ToLower(pickFrom(firstNames)+"."+pickFrom(lastNames)) + "@example.com"
		},
		"city":    func() string { return pickFrom(cities) },
		"country": func() string { return pickFrom(countries) },
		"word":    func() string { return pickFrom(words) },
		"words": func(n int) string {
			w := make([]string, n)
			for i := range w {
				w[i] = pickFrom(words)
			}
			return strings.Join(w, " ")
		},
		"uuid": func() string {
			hi, lo := rng.Uint64(), rng.Uint64()
			hi = hi&^0xf000 | 0x4000     // version 4
			lo = lo&^(0xc<<60) | 0x8<<60 // RFC 4122 variant
			return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
		},
	}
}
