package geom

// Path is an open polyline, such as a route on a map.
type Path []Point

// Length is the sum of the segment lengths.
func (path Path) Length() float64 {
	total := 0.0
	for i := 1; i < len(path); i++ {
		total += path[i-1].Dist(path[i])
	}
	return total
}

// At returns the point at distance d along the path (clamped to its ends).
func (path Path) At(d float64) Point {
	if len(path) == 0 {
		return Point{}
	}
	for i := 1; i < len(path); i++ {
		step := path[i-1].Dist(path[i])
		if d <= step && step > 0 {
			return Lerp(path[i-1], path[i], d/step)
		}
		d -= step
	}
	return path[len(path)-1]
}

// Simplify drops points closer than tolerance to the previous kept point.
func (path Path) Simplify(tolerance float64) Path {
	if len(path) < 3 {
		return path
	}
	kept := Path{path[0]}
	for _, p := range path[1 : len(path)-1] {
		if kept[len(kept)-1].Dist(p) >= tolerance {
			kept = append(kept, p)
		}
	}
	return append(kept, path[len(path)-1])
}

// Closed turns the path into a polygon, if it has enough points.
func (path Path) Closed() (Polygon, error) {
	return NewPolygon(path...)
}
