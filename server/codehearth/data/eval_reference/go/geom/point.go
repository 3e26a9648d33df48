// Package geom has points, polygons and the few calculations a map viewer needs.
package geom

import "math"

// Point is a position in the plane.
type Point struct {
	X, Y float64
}

// Add returns the vector sum of p and q.
func (p Point) Add(q Point) Point {
	return Point{p.X + q.X, p.Y + q.Y}
}

// Sub returns p minus q.
func (p Point) Sub(q Point) Point {
	return Point{p.X - q.X, p.Y - q.Y}
}

// Scale multiplies both coordinates by f.
func (p Point) Scale(f float64) Point {
	return Point{p.X * f, p.Y * f}
}

// Dist is the Euclidean distance between p and q.
func (p Point) Dist(q Point) float64 {
	d := p.Sub(q)
	return math.Hypot(d.X, d.Y)
}

// Cross is the z component of the cross product of p and q.
func Cross(p, q Point) float64 {
	return p.X*q.Y - p.Y*q.X
}

// Lerp interpolates between a and b: t = 0 gives a, t = 1 gives b.
func Lerp(a, b Point, t float64) Point {
	return a.Add(b.Sub(a).Scale(t))
}
